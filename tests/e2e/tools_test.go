package e2e

// The tools suite: real PKCS #11 client programs (OpenSC pkcs11-tool, GnuTLS
// p11tool, OpenSSL's pkcs11 engine, pkcs11-dump) run once against SoftHSM2
// directly and once through build/libgop11.so and a real broker, and the
// two runs must agree. See toolsPair in tools_helpers_test.go for why each test
// uses twin tokens, and harness.Mask for what may differ. Every test also
// checks the broker's log for the calls it made: a proxy that was not in
// the path would pass every comparison.
//
// Tool versions this suite was written against (Debian 12): OpenSC 0.23.0,
// SoftHSM 2.6.1, GnuTLS 3.7.9, libengine-pkcs11-openssl 0.4.12, OpenSSL 3.0,
// pkcs11-dump 0.3.4. Known gaps, each covered or noted where it matters:
//   - SoftHSM 2.6.1 has no CKM_ECDSA_SHA256: ECDSA is signed with CKM_ECDSA
//     over a SHA-256 digest, and -m ECDSA-SHA256 is checked to fail the same
//     way both ways.
//   - pkcs11-tool 0.23 --encrypt handles only AES-ECB/CBC/CBC-PAD (no RSA,
//     no AES-GCM: it has no --aad or --tag-bits-len and rejects CKM_AES_GCM
//     before any PKCS #11 call), and its RSA-OAEP --decrypt passes source=0,
//     which SoftHSM 2.6.1 rejects (CKR_ARGUMENTS_BAD). OAEP decryption is
//     covered positively through the OpenSSL engine; AES-GCM by a small C
//     client in tools_gcm_test.go.

import (
	"bytes"
	"crypto/sha256"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// TestToolsInfo compares the read-only listings: library, slots, tokens,
// mechanisms and objects, before and after login.
func TestToolsInfo(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-info", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "ec256", "aes", "cert", "data")
	})
	for _, args := range [][]string{
		{"-I"},
		{"-L"},
		{"-T"},
		{"-M"},
		{"-O"}, // public objects only
		{"--login", "--pin", toolsPIN, "-O"},
		{"--login", "--pin", toolsPIN, "-O", "--type", "privkey"},
	} {
		p.bothOK(t, strings.Join(args, " "), nil, func(*toolsTarget) []string { return args })
	}
	toolsAssertCalls(t, p.proxy, "C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo",
		"C_GetMechanismList", "C_GetMechanismInfo", "C_OpenSession", "C_Login",
		"C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal", "C_GetAttributeValue")
}

// toolsKeyMaterial matches the values pkcs11-tool prints for freshly generated
// keys: the EC public point, and CKA_VALUE of extractable secret keys.
var toolsKeyMaterial = regexp.MustCompile(`(?m)^(\s+(?:EC_POINT|VALUE):\s+)[0-9a-fA-F]+$`)

// toolsMaskKeyMaterial masks generated key material: two generations differ
// even against the same module, so only its presence can be compared.
func toolsMaskKeyMaterial(s string) string {
	return toolsKeyMaterial.ReplaceAllString(s, "${1}<generated>")
}

// TestToolsKeyGen generates key pairs and a secret key both ways, compares
// what pkcs11-tool reports, and checks that the keys generated through the
// proxy work: their signatures verify with plain openssl against the public
// keys read back through the proxy.
func TestToolsKeyGen(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-keygen", nil)
	for _, g := range [][]string{
		{"--keypairgen", "--key-type", "rsa:2048", "--id", "11", "--label", "gen-rsa"},
		{"--keypairgen", "--key-type", "EC:prime256v1", "--id", "12", "--label", "gen-ec256"},
		{"--keypairgen", "--key-type", "EC:secp384r1", "--id", "13", "--label", "gen-ec384"},
		{"--keygen", "--key-type", "AES:32", "--id", "14", "--label", "gen-aes"},
		{"--keygen", "--key-type", "AES:32", "--id", "15", "--label", "gen-aesx", "--extractable"},
	} {
		p.bothOK(t, strings.Join(g[:3], " "), toolsMaskKeyMaterial, func(tg *toolsTarget) []string { return append(tg.login(), g...) })
	}
	listing := func(s string) string { return toolsObjectBlocks(toolsMaskKeyMaterial(s)) }
	p.bothOK(t, "-O after key generation", listing, func(tg *toolsTarget) []string { return append(tg.login(), "-O") })

	x := p.proxy
	data := p.input(t, "data.txt", []byte("signed with a key generated through gop11\n"))
	sum := sha256.Sum256(toolsReadFile(t, data))
	digest := p.input(t, "data.sha256", sum[:])

	x.p11ok(t, append(x.login(), "--sign", "--id", "11", "-m", "SHA256-RSA-PKCS", "-i", data, "-o", x.file("rsa.sig"))...)
	toolsOpenSSL(t, nil, "dgst", "-sha256", "-verify", toolsExportPubKey(t, x, "11"), "-signature", x.file("rsa.sig"), data)
	for _, id := range []string{"12", "13"} {
		sig := x.file("ec" + id + ".sig")
		x.p11ok(t, append(x.login(), "--sign", "--id", id, "-m", "ECDSA", "-f", "openssl", "-i", digest, "-o", sig)...)
		toolsOpenSSL(t, nil, "pkeyutl", "-verify", "-pubin", "-inkey", toolsExportPubKey(t, x, id), "-in", digest, "-sigfile", sig)
	}
	// The generated AES key encrypts and decrypts.
	pt := p.input(t, "pt.bin", []byte("0123456789abcdef0123456789ABCDEF"))
	iv := "000102030405060708090a0b0c0d0e0f"
	x.p11ok(t, append(x.login(), "--encrypt", "--id", "14", "-m", "AES-CBC", "--iv", iv, "-i", pt, "-o", x.file("ct.bin"))...)
	x.p11ok(t, append(x.login(), "--decrypt", "--id", "14", "-m", "AES-CBC", "--iv", iv, "-i", x.file("ct.bin"), "-o", x.file("pt.bin"))...)
	toolsSameFile(t, "AES-CBC round trip with a key generated through the proxy", pt, x.file("pt.bin"))

	toolsAssertCalls(t, x, "C_GenerateKeyPair", "C_GenerateKey", "C_SignInit", "C_Sign", "C_EncryptInit", "C_DecryptInit")
	if n := x.broker.Calls()["C_GenerateKeyPair"]; n < 3 {
		t.Errorf("broker logged C_GenerateKeyPair %d times, want 3", n)
	}
}

// TestToolsSignVerify signs and verifies with RSA PKCS #1 v1.5 (single and
// multi-part), RSA-PSS and ECDSA on P-256 and P-384. Deterministic
// signatures must be byte-identical both ways (twin keys); randomised ones
// are verified by the other side and by plain openssl.
func TestToolsSignVerify(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-sign", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "ec256", "ec384")
	})
	data := p.input(t, "data.txt", []byte("gop11 signs this\n"))
	sum := sha256.Sum256(toolsReadFile(t, data))
	digest := p.input(t, "data.sha256", sum[:])
	// Larger than pkcs11-tool's 1025-byte buffer: C_SignUpdate/C_SignFinal.
	big := p.input(t, "big.bin", bytes.Repeat([]byte("gop11 multi-part "), 300))

	pem := map[string]string{}
	for _, id := range []string{toolsKeyRSA, toolsKeyEC256, toolsKeyEC384} {
		pem[id] = toolsExportPubKey(t, p.proxy, id)
		toolsSameFile(t, "public key "+id+" read both ways", toolsExportPubKey(t, p.direct, id), pem[id])
	}

	pssVerify := []string{"-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32", "-pkeyopt", "digest:sha256"}
	cases := []struct {
		name          string
		id            string
		args          []string // mechanism and its options
		in            string
		deterministic bool
		verify        []string // openssl command verifying SIG (placeholder) of the input
	}{
		{"RSA-PKCS", toolsKeyRSA, []string{"-m", "RSA-PKCS"}, data, true,
			[]string{"pkeyutl", "-verify", "-pubin", "-inkey", pem[toolsKeyRSA], "-in", data, "-sigfile", "SIG"}},
		{"SHA256-RSA-PKCS", toolsKeyRSA, []string{"-m", "SHA256-RSA-PKCS"}, data, true,
			[]string{"dgst", "-sha256", "-verify", pem[toolsKeyRSA], "-signature", "SIG", data}},
		{"SHA256-RSA-PKCS multi-part", toolsKeyRSA, []string{"-m", "SHA256-RSA-PKCS"}, big, true,
			[]string{"dgst", "-sha256", "-verify", pem[toolsKeyRSA], "-signature", "SIG", big}},
		{"RSA-PKCS-PSS", toolsKeyRSA, []string{"-m", "RSA-PKCS-PSS", "--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256"}, digest, false,
			append([]string{"pkeyutl", "-verify", "-pubin", "-inkey", pem[toolsKeyRSA], "-in", digest, "-sigfile", "SIG"}, pssVerify...)},
		{"SHA256-RSA-PKCS-PSS", toolsKeyRSA, []string{"-m", "SHA256-RSA-PKCS-PSS", "--mgf", "MGF1-SHA256"}, data, false,
			[]string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-verify", pem[toolsKeyRSA], "-signature", "SIG", data}},
		{"ECDSA P-256", toolsKeyEC256, []string{"-m", "ECDSA", "-f", "openssl"}, digest, false,
			[]string{"pkeyutl", "-verify", "-pubin", "-inkey", pem[toolsKeyEC256], "-in", digest, "-sigfile", "SIG"}},
		{"ECDSA P-384", toolsKeyEC384, []string{"-m", "ECDSA", "-f", "openssl"}, digest, false,
			[]string{"pkeyutl", "-verify", "-pubin", "-inkey", pem[toolsKeyEC384], "-in", digest, "-sigfile", "SIG"}},
	}
	for _, c := range cases {
		sigName := strings.ReplaceAll(c.name, " ", "_") + ".sig"
		p.bothOK(t, "sign "+c.name, nil, func(tg *toolsTarget) []string {
			return append(append(tg.login(), "--sign", "--id", c.id, "-i", c.in, "-o", tg.file(sigName)), c.args...)
		})
		if c.deterministic {
			toolsSameFile(t, c.name+" signature", p.direct.file(sigName), p.proxy.file(sigName))
		}
		// Each side verifies the other side's signature.
		d, _ := p.bothOK(t, "verify "+c.name, nil, func(tg *toolsTarget) []string {
			return append(append(tg.login(), "--verify", "--id", c.id, "-i", c.in, "--signature-file", p.other(tg).file(sigName)), c.args...)
		})
		if !strings.Contains(d.Stdout, "Signature is valid") {
			t.Errorf("verify %s: %q", c.name, d.Stdout)
		}
		// Plain openssl verifies both signatures.
		for _, tg := range p.targets() {
			args := append([]string(nil), c.verify...)
			for i := range args {
				if args[i] == "SIG" {
					args[i] = tg.file(sigName)
				}
			}
			toolsOpenSSL(t, nil, args...)
		}
	}

	// A corrupted signature is rejected the same way: CKR_SIGNATURE_INVALID
	// crosses the proxy as a result, not as an error.
	bad := toolsReadFile(t, p.proxy.file("RSA-PKCS.sig"))
	bad[10] ^= 0xff
	badPath := p.input(t, "bad.sig", bad)
	d, _ := p.bothOK(t, "verify corrupted RSA-PKCS signature", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--verify", "--id", toolsKeyRSA, "-m", "RSA-PKCS", "-i", data, "--signature-file", badPath)
	})
	if !strings.Contains(d.Stdout, "Invalid signature") {
		t.Errorf("corrupted signature: %q", d.Stdout)
	}

	// SoftHSM 2.6.1 lacks CKM_ECDSA_SHA256: the same refusal both ways.
	d, _ = p.both(t, "sign ECDSA-SHA256 (unsupported by SoftHSM2)", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--sign", "--id", toolsKeyEC256, "-m", "ECDSA-SHA256", "-i", data, "-o", tg.file("ecdsa-sha256.sig"))
	})
	if d.Code == 0 || !strings.Contains(d.Stderr, "CKR_MECHANISM_INVALID") {
		t.Logf("note: ECDSA-SHA256 now works directly (exit %d): SoftHSM2 gained it", d.Code)
	} else {
		toolsAssertResult(t, p.proxy, "C_SignInit", "CKR_MECHANISM_INVALID")
	}

	// Digest on the token (C_DigestInit/Update/Final).
	p.bothOK(t, "hash SHA256", nil, func(tg *toolsTarget) []string {
		return []string{"--hash", "-m", "SHA256", "-i", data, "-o", tg.file("data.sha256")}
	})
	toolsSameFile(t, "C_Digest SHA-256 through the proxy vs Go's", digest, p.proxy.file("data.sha256"))

	toolsAssertCalls(t, p.proxy, "C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal",
		"C_VerifyInit", "C_Verify", "C_DigestInit", "C_DigestUpdate", "C_DigestFinal")
	toolsAssertResult(t, p.proxy, "C_Sign", "CKR_OK")
	toolsAssertResult(t, p.proxy, "C_Verify", "CKR_OK")
	toolsAssertResult(t, p.proxy, "C_Verify", "CKR_SIGNATURE_INVALID")
}

// TestToolsEncryptDecrypt encrypts and decrypts with AES (single and
// multi-part) and decrypts RSA PKCS #1 v1.5 and OAEP cryptograms made by
// openssl.
func TestToolsEncryptDecrypt(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-crypt", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "aes")
	})
	iv := "000102030405060708090a0b0c0d0e0f"
	block48 := p.input(t, "pt48.bin", []byte("forty-eight bytes of plaintext for AES, exactly."))
	odd := p.input(t, "pt37.bin", []byte("thirty-seven bytes, padded by the HSM"))
	// Larger than pkcs11-tool's 1024-byte buffer: C_EncryptUpdate/Final.
	big := p.input(t, "pt-big.bin", bytes.Repeat([]byte("gop11 multi-part encryption "), 107))

	cases := []struct {
		name, in string
		args     []string
	}{
		{"AES-ECB", block48, []string{"-m", "AES-ECB"}},
		{"AES-CBC", block48, []string{"-m", "AES-CBC", "--iv", iv}},
		{"AES-CBC-PAD", odd, []string{"-m", "AES-CBC-PAD", "--iv", iv}},
		{"AES-CBC-PAD multi-part", big, []string{"-m", "AES-CBC-PAD", "--iv", iv}},
	}
	for _, c := range cases {
		ct := strings.ReplaceAll(c.name, " ", "_") + ".ct"
		pt := strings.ReplaceAll(c.name, " ", "_") + ".pt"
		p.bothOK(t, "encrypt "+c.name, nil, func(tg *toolsTarget) []string {
			return append(append(tg.login(), "--encrypt", "--id", toolsKeyAES, "-i", c.in, "-o", tg.file(ct)), c.args...)
		})
		toolsSameFile(t, c.name+" ciphertext", p.direct.file(ct), p.proxy.file(ct))
		// Each side decrypts the other side's ciphertext.
		p.bothOK(t, "decrypt "+c.name, nil, func(tg *toolsTarget) []string {
			return append(append(tg.login(), "--decrypt", "--id", toolsKeyAES, "-i", p.other(tg).file(ct), "-o", tg.file(pt)), c.args...)
		})
		toolsSameFile(t, c.name+" plaintext through the proxy", c.in, p.proxy.file(pt))
	}

	// RSA: openssl encrypts to the public key, the token decrypts.
	rsaPEM := toolsExportPubKey(t, p.direct, toolsKeyRSA)
	msg := p.input(t, "rsa-msg.txt", []byte("for RSA decryption through gop11\n"))
	pkcs1 := p.dir + "/rsa-pkcs1.ct"
	toolsOpenSSL(t, nil, "pkeyutl", "-encrypt", "-pubin", "-inkey", rsaPEM, "-in", msg, "-out", pkcs1)
	p.bothOK(t, "decrypt RSA-PKCS", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--decrypt", "--id", toolsKeyRSA, "-m", "RSA-PKCS", "-i", pkcs1, "-o", tg.file("rsa-pkcs1.pt"))
	})
	toolsSameFile(t, "RSA-PKCS plaintext through the proxy", msg, p.proxy.file("rsa-pkcs1.pt"))

	oaep := p.dir + "/rsa-oaep.ct"
	toolsOpenSSL(t, nil, "pkeyutl", "-encrypt", "-pubin", "-inkey", rsaPEM, "-in", msg, "-out", oaep,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	// pkcs11-tool 0.23 sends source=0 in CK_RSA_PKCS_OAEP_PARAMS, which
	// SoftHSM 2.6.1 refuses with CKR_ARGUMENTS_BAD: the comparison is "same
	// outcome both ways", which still shows the parameters arrived intact.
	d, _ := p.both(t, "decrypt RSA-PKCS-OAEP", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--decrypt", "--id", toolsKeyRSA, "-m", "RSA-PKCS-OAEP",
			"--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256", "-i", oaep, "-o", tg.file("rsa-oaep.pt"))
	})
	if d.Code == 0 {
		toolsSameFile(t, "RSA-OAEP plaintext through the proxy", msg, p.proxy.file("rsa-oaep.pt"))
	}

	toolsAssertCalls(t, p.proxy, "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal",
		"C_DecryptInit", "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal")
	// pkcs11-tool falls back to multi-part when C_Encrypt/C_Decrypt fail:
	// the single-part calls must have succeeded themselves.
	toolsAssertResult(t, p.proxy, "C_Encrypt", "CKR_OK")
	toolsAssertResult(t, p.proxy, "C_Decrypt", "CKR_OK")
}

// TestToolsDeriveWrap derives an ECDH secret and wraps and unwraps AES keys
// with AES key wrap (RFC 3394) and RSA PKCS #1 v1.5.
func TestToolsDeriveWrap(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-derive", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "ec256", "aes", "aesx")
	})
	// ECDH with a peer key made by openssl; the token's side is key 02.
	peerKey := p.dir + "/peer.key"
	peerDER := p.dir + "/peer.der"
	toolsOpenSSL(t, nil, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", peerKey)
	toolsOpenSSL(t, nil, "pkey", "-in", peerKey, "-pubout", "-outform", "DER", "-out", peerDER)
	p.bothOK(t, "derive ECDH1-DERIVE", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--derive", "-m", "ECDH1-DERIVE", "--id", toolsKeyEC256, "-i", peerDER, "-o", tg.file("ecdh.bin"))
	})
	toolsSameFile(t, "ECDH secret", p.direct.file("ecdh.bin"), p.proxy.file("ecdh.bin"))
	want := p.dir + "/ecdh-openssl.bin"
	toolsOpenSSL(t, nil, "pkeyutl", "-derive", "-inkey", peerKey, "-peerkey", toolsExportPubKey(t, p.proxy, toolsKeyEC256), "-out", want)
	toolsSameFile(t, "ECDH secret through the proxy vs openssl's", want, p.proxy.file("ecdh.bin"))

	// AES key wrap is deterministic: the same wrapped bytes both ways.
	p.bothOK(t, "wrap AES-KEY-WRAP", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--wrap", "-m", "AES-KEY-WRAP", "--id", toolsKeyAES, "--application-id", toolsKeyAESX, "-o", tg.file("wrapped.bin"))
	})
	toolsSameFile(t, "AES-wrapped key", p.direct.file("wrapped.bin"), p.proxy.file("wrapped.bin"))
	// "AES:" without a length: SoftHSM2 refuses CKA_VALUE_LEN in an unwrap
	// template, which the next comparison checks on purpose.
	p.bothOK(t, "unwrap AES-KEY-WRAP", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--unwrap", "-m", "AES-KEY-WRAP", "--id", toolsKeyAES, "-i", tg.file("wrapped.bin"),
			"--key-type", "AES:", "--application-id", "06", "--application-label", "unwrapped")
	})
	d, _ := p.both(t, "unwrap with CKA_VALUE_LEN in the template", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--unwrap", "-m", "AES-KEY-WRAP", "--id", toolsKeyAES, "-i", tg.file("wrapped.bin"),
			"--key-type", "AES:32", "--application-id", "09", "--application-label", "refused")
	})
	if d.Code != 0 {
		toolsAssertResult(t, p.proxy, "C_UnwrapKey", "CKR_ATTRIBUTE_READ_ONLY")
	}

	// RSA wrap is randomised: each side unwraps what the other wrapped.
	p.bothOK(t, "wrap RSA-PKCS", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--wrap", "-m", "RSA-PKCS", "--id", toolsKeyRSA, "--application-id", toolsKeyAESX, "-o", tg.file("rsa-wrapped.bin"))
	})
	p.bothOK(t, "unwrap RSA-PKCS", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--unwrap", "-m", "RSA-PKCS", "--id", toolsKeyRSA, "-i", p.other(tg).file("rsa-wrapped.bin"),
			"--key-type", "AES:", "--application-id", "07", "--application-label", "rsa-unwrapped")
	})

	// Unwrapped keys are the wrapped key: same AES-CBC ciphertext.
	pt := p.input(t, "pt.bin", []byte("0123456789abcdef"))
	iv := "0f0e0d0c0b0a09080706050403020100"
	for _, id := range []string{toolsKeyAESX, "06", "07"} {
		p.bothOK(t, "encrypt with key "+id, nil, func(tg *toolsTarget) []string {
			return append(tg.login(), "--encrypt", "--id", id, "-m", "AES-CBC", "--iv", iv, "-i", pt, "-o", tg.file("ct-"+id))
		})
		toolsSameFile(t, "ciphertext under key "+id, p.direct.file("ct-"+id), p.proxy.file("ct-"+id))
	}
	toolsSameFile(t, "key 06 unwrapped through the proxy is key 05", p.proxy.file("ct-"+toolsKeyAESX), p.proxy.file("ct-06"))
	toolsSameFile(t, "key 07 unwrapped through the proxy is key 05", p.proxy.file("ct-"+toolsKeyAESX), p.proxy.file("ct-07"))

	toolsAssertCalls(t, p.proxy, "C_DeriveKey", "C_WrapKey", "C_UnwrapKey")
	toolsAssertResult(t, p.proxy, "C_DeriveKey", "CKR_OK")
	toolsAssertResult(t, p.proxy, "C_WrapKey", "CKR_OK")
	toolsAssertResult(t, p.proxy, "C_UnwrapKey", "CKR_OK")
}

// TestToolsObjects writes, reads and deletes a certificate and a data
// object.
func TestToolsObjects(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-objects", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "ec256")
	})
	cert := p.cert(t)
	data := p.input(t, "object.txt", []byte("a data object written through gop11\n"))
	listing := func(tg *toolsTarget) []string { return append(tg.login(), "-O") }

	p.bothOK(t, "write cert", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--write-object", cert, "--type", "cert", "--id", "20", "--label", "cert2")
	})
	p.bothOK(t, "write data", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--write-object", data, "--type", "data", "--label", "data2", "--application-label", "gop11-app")
	})
	_, x := p.bothOK(t, "-O after writes", toolsObjectBlocks, listing)
	if !strings.Contains(x.Stdout, "cert2") || !strings.Contains(x.Stdout, "data2") {
		t.Errorf("written objects not listed through the proxy:\n%s", x.Stdout)
	}
	p.bothOK(t, "read cert", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--read-object", "--type", "cert", "--id", "20", "-o", tg.file("cert.der"))
	})
	toolsSameFile(t, "certificate read back through the proxy", cert, p.proxy.file("cert.der"))
	p.bothOK(t, "read data", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--read-object", "--type", "data", "--label", "data2", "-o", tg.file("data.txt"))
	})
	toolsSameFile(t, "data object read back through the proxy", data, p.proxy.file("data.txt"))

	p.bothOK(t, "delete cert", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--delete-object", "--type", "cert", "--id", "20")
	})
	p.bothOK(t, "delete data", nil, func(tg *toolsTarget) []string {
		return append(tg.login(), "--delete-object", "--type", "data", "--label", "data2")
	})
	_, x = p.bothOK(t, "-O after deletes", toolsObjectBlocks, listing)
	if strings.Contains(x.Stdout, "cert2") || strings.Contains(x.Stdout, "data2") {
		t.Errorf("deleted objects still listed through the proxy:\n%s", x.Stdout)
	}
	toolsAssertCalls(t, p.proxy, "C_CreateObject", "C_DestroyObject", "C_GetAttributeValue")
	toolsAssertResult(t, p.proxy, "C_CreateObject", "CKR_OK")
	toolsAssertResult(t, p.proxy, "C_DestroyObject", "CKR_OK")
}

// TestToolsSelfTest runs pkcs11-tool's own test battery. Against SoftHSM2
// 2.6.1 it aborts even directly (no OAEP label support), so what must match
// is the whole outcome: exit code and every output line.
func TestToolsSelfTest(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-selftest", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "ec256", "aes")
	})
	p.both(t, "--test", nil, func(tg *toolsTarget) []string { return append(tg.login(), "--test") })
	toolsAssertCalls(t, p.proxy, "C_GenerateRandom", "C_SeedRandom", "C_DigestInit", "C_VerifyInit", "C_DecryptInit")
}

// TestToolsGnuTLS lists and exports objects with GnuTLS's p11tool.
func TestToolsGnuTLS(t *testing.T) {
	t.Parallel()
	harness.Require(t, "p11tool")
	p := newToolsPair(t, "tools-gnutls", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "ec256", "aes", "cert", "data")
	})
	url := p.direct.tok.URI()
	p11tool := func(env []string, args ...string) func(tg *toolsTarget) harness.Command {
		return func(tg *toolsTarget) harness.Command {
			return harness.Command{
				Name: "p11tool",
				Args: append([]string{"--provider", tg.module}, args...),
				Env:  append(append([]string(nil), tg.env...), env...),
			}
		}
	}
	for _, c := range []struct {
		what string
		env  []string
		args []string
	}{
		{"--list-all", nil, []string{"--list-all"}},
		{"--list-all URL", nil, []string{"--list-all", url}},
		{"--list-all --login", []string{"GNUTLS_PIN=" + toolsPIN}, []string{"--list-all", "--login", url}},
		{"--list-privkeys --login", []string{"GNUTLS_PIN=" + toolsPIN}, []string{"--list-privkeys", "--login", url}},
		{"--export cert", nil, []string{"--export", url + ";object=cert;type=cert"}},
	} {
		d, x := p.bothRun(t, "p11tool "+c.what, nil, p11tool(c.env, c.args...))
		toolsBothOK(t, "p11tool "+c.what, d, x)
	}
	toolsAssertCalls(t, p.proxy, "C_GetTokenInfo", "C_Login", "C_FindObjectsInit", "C_FindObjects", "C_GetAttributeValue")
}

// TestToolsOpenSSLEngine signs and decrypts through OpenSSL's pkcs11
// engine (libp11), and checks every result with plain openssl against the
// public keys read through the same side.
func TestToolsOpenSSLEngine(t *testing.T) {
	t.Parallel()
	p := newToolsPair(t, "tools-engine", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "ec256")
	})
	data := p.input(t, "data.txt", []byte("signed through the OpenSSL pkcs11 engine\n"))
	sum := sha256.Sum256(toolsReadFile(t, data))
	digest := p.input(t, "data.sha256", sum[:])
	key := func(object string) string {
		return p.direct.tok.URI() + ";object=" + object + ";type=private?pin-value=" + toolsPIN
	}
	engine := func(args ...string) func(tg *toolsTarget) harness.Command {
		return func(tg *toolsTarget) harness.Command {
			a := append([]string(nil), args...)
			for i := range a {
				a[i] = strings.ReplaceAll(a[i], "OUT/", tg.dir+"/")
			}
			return harness.Command{
				Name: "openssl",
				Args: a,
				Env:  append(append([]string(nil), tg.env...), "PKCS11_MODULE_PATH="+tg.module),
			}
		}
	}
	pem := map[*toolsTarget]map[string]string{}
	for _, tg := range p.targets() {
		pem[tg] = map[string]string{toolsKeyRSA: toolsExportPubKey(t, tg, toolsKeyRSA), toolsKeyEC256: toolsExportPubKey(t, tg, toolsKeyEC256)}
	}
	toolsSameFile(t, "RSA public key both ways", pem[p.direct][toolsKeyRSA], pem[p.proxy][toolsKeyRSA])
	toolsSameFile(t, "EC public key both ways", pem[p.direct][toolsKeyEC256], pem[p.proxy][toolsKeyEC256])

	steps := []struct {
		what   string
		cmd    []string
		verify func(tg *toolsTarget) []string // plain openssl check of the result
	}{
		{"ECDSA pkeyutl -sign",
			[]string{"pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-inkey", key("ec256"), "-sign", "-in", digest, "-out", "OUT/ec.sig"},
			func(tg *toolsTarget) []string {
				return []string{"pkeyutl", "-verify", "-pubin", "-inkey", pem[tg][toolsKeyEC256], "-in", digest, "-sigfile", tg.file("ec.sig")}
			}},
		{"ECDSA dgst -sign",
			[]string{"dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", key("ec256"), "-out", "OUT/ec-dgst.sig", data},
			func(tg *toolsTarget) []string {
				return []string{"dgst", "-sha256", "-verify", pem[tg][toolsKeyEC256], "-signature", tg.file("ec-dgst.sig"), data}
			}},
		{"RSA dgst -sign",
			[]string{"dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", key("rsa"), "-out", "OUT/rsa.sig", data},
			func(tg *toolsTarget) []string {
				return []string{"dgst", "-sha256", "-verify", pem[tg][toolsKeyRSA], "-signature", tg.file("rsa.sig"), data}
			}},
		{"RSA-PSS pkeyutl -sign",
			[]string{"pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-inkey", key("rsa"), "-sign", "-in", digest, "-out", "OUT/pss.sig",
				"-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_pss_saltlen:32"},
			func(tg *toolsTarget) []string {
				return []string{"pkeyutl", "-verify", "-pubin", "-inkey", pem[tg][toolsKeyRSA], "-in", digest, "-sigfile", tg.file("pss.sig"),
					"-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_pss_saltlen:32"}
			}},
	}
	for _, s := range steps {
		d, x := p.bothRun(t, "openssl "+s.what, nil, engine(s.cmd...))
		toolsBothOK(t, "openssl "+s.what, d, x)
		for _, tg := range p.targets() {
			toolsOpenSSL(t, nil, s.verify(tg)...)
		}
	}
	// RSA PKCS #1 v1.5 signatures are deterministic.
	toolsSameFile(t, "engine RSA signature", p.direct.file("rsa.sig"), p.proxy.file("rsa.sig"))

	// OAEP decryption (libp11 passes the parameters SoftHSM2 accepts).
	msg := p.input(t, "msg.txt", []byte("OAEP through the engine\n"))
	ct := p.dir + "/oaep.ct"
	toolsOpenSSL(t, nil, "pkeyutl", "-encrypt", "-pubin", "-inkey", pem[p.direct][toolsKeyRSA], "-in", msg, "-out", ct,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	d, x := p.bothRun(t, "openssl RSA-OAEP pkeyutl -decrypt", nil, engine("pkeyutl", "-engine", "pkcs11", "-keyform", "engine",
		"-inkey", key("rsa"), "-decrypt", "-in", ct, "-out", "OUT/oaep.pt",
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"))
	toolsBothOK(t, "openssl RSA-OAEP pkeyutl -decrypt", d, x)
	toolsSameFile(t, "OAEP plaintext through the proxy", msg, p.proxy.file("oaep.pt"))

	toolsAssertCalls(t, p.proxy, "C_Login", "C_SignInit", "C_Sign", "C_DecryptInit", "C_Decrypt")
	toolsAssertResult(t, p.proxy, "C_Decrypt", "CKR_OK")
}

// TestToolsPKCS11Dump dumps every attribute of every object of a token
// holding an RSA and an EC key pair, an AES key, a certificate and a data
// object.
func TestToolsPKCS11Dump(t *testing.T) {
	t.Parallel()
	harness.Require(t, "pkcs11-dump")
	p := newToolsPair(t, "tools-dump", func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "rsa", "ec256", "aes", "cert", "data")
	})
	d, x := p.bothRun(t, "pkcs11-dump dump", nil, func(tg *toolsTarget) harness.Command {
		return harness.Command{Name: "pkcs11-dump", Args: []string{"dump", tg.module, tg.tok.Slot, tg.tok.PIN}, Env: tg.env}
	})
	toolsBothOK(t, "pkcs11-dump dump", d, x)
	for _, want := range []string{"CKO_PRIVATE_KEY", "CKO_PUBLIC_KEY", "CKO_SECRET_KEY", "CKO_CERTIFICATE", "CKO_DATA"} {
		if !strings.Contains(x.Stdout, want) {
			t.Errorf("pkcs11-dump through the proxy shows no %s", want)
		}
	}
	toolsAssertCalls(t, p.proxy, "C_GetTokenInfo", "C_Login", "C_FindObjects", "C_GetAttributeValue")
}

// TestToolsPINNeverLogged runs login flows with distinctive PINs through
// the proxy, with the module logging too, then searches both logs for the
// PINs in every form a careless logger might use. It also checks that a
// wrong PIN fails with CKR_PIN_INCORRECT through the proxy as it does
// directly.
func TestToolsPINNeverLogged(t *testing.T) {
	t.Parallel()
	const (
		pin      = "Sup3rSecretPin-4711"
		newPIN   = "N3wSecretPin-2024"
		soPIN    = "S0SecretPin-0815"
		wrongPIN = "Wr0ngSecretPin-1337"
	)
	p := newToolsPairPINs(t, "tools-pin", pin, soPIN, func(t *testing.T, p *toolsPair, tg *toolsTarget) {
		toolsPopulate(t, p, tg, "ec256")
	})
	x := p.proxy
	data := p.input(t, "data.txt", []byte("sign after login\n"))
	sum := sha256.Sum256(toolsReadFile(t, data))
	digest := p.input(t, "data.sha256", sum[:])

	x.p11ok(t, "--login", "--pin", pin, "-O")
	x.p11ok(t, "--login", "--pin", pin, "--sign", "--id", toolsKeyEC256, "-m", "ECDSA", "-i", digest, "-o", x.file("sig"))
	x.p11ok(t, "--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "31", "--label", "pin-test")
	// C_SetPIN carries two PINs; change and change back.
	x.p11ok(t, "--login", "--pin", pin, "--change-pin", "--new-pin", newPIN)
	x.p11ok(t, "--login", "--pin", newPIN, "--change-pin", "--new-pin", pin)
	// Security officer login, then C_InitPIN with the user PIN.
	x.p11ok(t, "--login", "--login-type", "so", "--so-pin", soPIN, "--init-pin", "--new-pin", pin)
	// Other clients pass the PIN their own ways.
	r := harness.RunCmd(t, harness.Command{
		Name: "openssl",
		Args: []string{"pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-sign", "-in", digest, "-out", x.file("engine.sig"),
			"-inkey", x.tok.URI() + ";object=ec256;type=private?pin-value=" + pin},
		Env: append(append([]string(nil), x.env...), "PKCS11_MODULE_PATH="+x.module),
	})
	if r.Code != 0 {
		t.Errorf("openssl engine sign through the proxy: exit %d\n%s", r.Code, r.Stderr)
	}
	if _, err := os.Stat("/usr/bin/p11tool"); err == nil {
		r = harness.RunCmd(t, harness.Command{
			Name: "p11tool", Args: []string{"--provider", x.module, "--list-all", "--login", x.tok.URI()},
			Env: append(append([]string(nil), x.env...), "GNUTLS_PIN="+pin),
		})
		if r.Code != 0 {
			t.Errorf("p11tool --login through the proxy: exit %d\n%s", r.Code, r.Stderr)
		}
	}

	// Wrong PIN last (SoftHSM2 does not lock, but a real token would).
	d, xr := p.both(t, "login with a wrong PIN", nil, func(tg *toolsTarget) []string {
		return []string{"--login", "--pin", wrongPIN, "-O"}
	})
	if d.Code == 0 || !strings.Contains(d.Stderr, "CKR_PIN_INCORRECT") {
		t.Fatalf("wrong PIN directly: exit %d, stderr %q", d.Code, d.Stderr)
	}
	if !strings.Contains(xr.Stderr, "CKR_PIN_INCORRECT") {
		t.Errorf("wrong PIN through the proxy: want CKR_PIN_INCORRECT, got exit %d, stderr %q", xr.Code, xr.Stderr)
	}
	toolsAssertResult(t, x, "C_Login", "CKR_PIN_INCORRECT")
	toolsAssertResult(t, x, "C_Login", "CKR_OK")
	toolsAssertResult(t, x, "C_SetPIN", "CKR_OK")

	logs := map[string]string{"broker log": x.broker.Log(), "module log": x.broker.ModuleLog()}
	if logs["broker log"] == "" {
		t.Fatalf("broker log %s is empty: nothing to search", x.broker.LogPath)
	}
	t.Logf("searched broker log (%d bytes) and module log (%d bytes)", len(logs["broker log"]), len(logs["module log"]))
	for _, secret := range []string{pin, newPIN, soPIN, wrongPIN} {
		for form, s := range harness.SecretForms(secret) {
			for name, log := range logs {
				if strings.Contains(strings.ToLower(log), strings.ToLower(s)) {
					t.Errorf("%s contains a PIN (%s form %q)", name, form, s)
				}
			}
		}
	}
}
