// Package pkcs11v3 runs a PKCS #11 v3.0 application (p11v3.c) against
// vendor modules loaded directly and through gop11, and compares what it
// sees: NSS's softoken, a v3.0 module (message-based AEAD, IV generation,
// C_SessionCancel, C_LoginUser), served with init_args; SoftHSM2, a v2.40
// module (Ed25519 and CK_EDDSA_PARAMS through C_Sign), where the 3.0
// interface must not be offered; a broker serving both, where a v3.0
// call to the v2.40 module's slot answers CKR_FUNCTION_NOT_SUPPORTED; and
// msgmod.c, a v3.0 module with the multi-part message functions NSS's
// softoken 3.87 lacks.
package pkcs11v3

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

const softokn = "/usr/lib/x86_64-linux-gnu/libsoftokn3.so"

// marker is in the NSS database's path, so in init_args: it must reach
// neither a log nor a command line.
const marker = "initargs-marker-7f3a"

func build(t *testing.T) string { return harness.CompileC(t, "tests/pkcs11v3/p11v3.c", "p11v3") }

// nssDB makes a new NSS database with user PIN 1234 and returns the
// softoken's init string for it.
func nssDB(t *testing.T, bin string) string {
	t.Helper()
	if _, err := os.Stat(softokn); err != nil {
		if harness.InCI() {
			t.Fatalf("NSS's softoken: %v (package libnss3)", err)
		}
		t.Skipf("NSS's softoken: %v", err)
	}
	dir := filepath.Join(t.TempDir(), marker)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	initArgs := fmt.Sprintf("configdir='sql:%s' certPrefix='' keyPrefix='' secmod='secmod.db' flags='noModDB'", dir)
	if out, stderr, code := harness.Run(t, nil, bin, softokn, "--init-args", initArgs, "--setup-pin"); code != 0 {
		t.Fatalf("setting the NSS database's PIN: exit %d\n%s%s", code, out, stderr)
	}
	return initArgs
}

func run(t *testing.T, env []string, bin string, args ...string) []string {
	t.Helper()
	out, stderr, code := harness.Run(t, env, bin, args...)
	if code != 0 {
		t.Fatalf("p11v3 %v: exit %d\n%s%s", args, code, out, stderr)
	}
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// line is the transcript's line of step, or "".
func line(lines []string, step string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, step+" ") {
			return l
		}
	}
	return ""
}

// from is the transcript from step on.
func from(lines []string, step string) string {
	for i, l := range lines {
		if strings.HasPrefix(l, step+" ") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return ""
}

// without is lines without those of the steps.
func without(lines []string, steps ...string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, s := range steps {
			if strings.HasPrefix(l, s+" ") {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// expect checks that each step's line matches its pattern.
func expect(t *testing.T, what string, lines []string, want map[string]string) {
	t.Helper()
	for step, re := range want {
		if l := line(lines, step); !regexp.MustCompile(`^` + regexp.QuoteMeta(step) + ` ` + re + `$`).MatchString(l) {
			t.Errorf("%s: %s: got %q, want %s", what, step, l, re)
		}
	}
}

func nssConfig(initArgs, isolation string) string {
	return "listen = [\"unix://%SOCK%\"]\n" +
		harness.ModuleTOML("nss", softokn, isolation, fmt.Sprintf("init_args = %q", initArgs), nil) +
		harness.TokenTOML("nss", "pkcs11:token=NSS%20Certificate%20DB", 2) +
		"\n[[client]]\nname = \"all\"\nuids = [0]\n"
}

func clientEnv(t *testing.T, sock string) ([]string, string) {
	logPath := filepath.Join(t.TempDir(), "module.log")
	return []string{"GOP11_BROKER=unix://" + sock, "GOP11_LOG=" + logPath}, logPath
}

func TestNSS(t *testing.T) {
	bin := build(t)
	initArgs := nssDB(t, bin)
	direct := run(t, nil, bin, softokn, "--init-args", initArgs)
	t.Logf("directly:\n%s", strings.Join(direct, "\n"))
	// What the comparison rests on: NSS's softoken 3.87 did these itself.
	expect(t, "directly", direct, map[string]string{
		"get-interface-3.0":                 "CKR_OK",
		"login":                             "CKR_OK",
		"gcm-encrypt":                       "CKR_OK [0-9a-f]{80} [0-9a-f]{32}",
		"gcm-encrypt-short":                 `CKR_BUFFER_TOO_SMALL \d+`,
		"gcm-encrypt-generated-iv":          "CKR_OK [0-9a-f]{24} [0-9a-f]{32}",
		"gcm-decrypt":                       "CKR_OK plaintext",
		"gcm-decrypt-generated-iv":          "CKR_OK plaintext",
		"gcm-decrypt-bad-tag":               "CKR_ENCRYPTED_DATA_INVALID",
		"chacha20-poly1305-encrypt":         "CKR_OK [0-9a-f]{80} [0-9a-f]{32}",
		"chacha20-poly1305-decrypt":         "CKR_OK plaintext",
		"chacha20-poly1305-decrypt-bad-tag": "CKR_ENCRYPTED_DATA_INVALID",
		"cancel":                            "CKR_OK",
		"cancel-after":                      "CKR_OPERATION_NOT_INITIALIZED",
		"cancel-init-again":                 "CKR_OK",
	})

	for _, isolation := range []string{"process", "shared"} {
		t.Run(isolation, func(t *testing.T) {
			b := harness.StartConfigBroker(t, nssConfig(initArgs, isolation), nil)
			env, modLog := clientEnv(t, b.Sock)
			proxied := run(t, env, bin, harness.Module())
			if got, want := line(proxied, "interface-list"), "interface-list CKR_OK 2 PKCS 11 3.0, PKCS 11 2.40"; got != want {
				t.Errorf("interfaces through gop11: %q, want %q", got, want)
			}
			if isolation == "shared" {
				// Logins are virtual there, per application: a named
				// user's login would be the token's, for all.
				expect(t, "shared", proxied, map[string]string{"login-user-wrong": "CKR_FUNCTION_NOT_SUPPORTED", "login-user": "CKR_FUNCTION_NOT_SUPPORTED"})
				proxied = without(proxied, "login-user-wrong", "login-user")
				direct := without(direct, "login-user-wrong", "login-user")
				if d, p := from(direct, "get-interface-3.0"), from(proxied, "get-interface-3.0"); d != p {
					t.Errorf("through gop11 (shared) differs from NSS directly:\n%s", harness.Diff(d, p))
				}
				return
			}
			// Everything after the interface list is the vendor's, to the byte.
			if d, p := from(direct, "get-interface-3.0"), from(proxied, "get-interface-3.0"); d != p {
				t.Errorf("through gop11 (%s) differs from NSS directly:\n%s", isolation, harness.Diff(d, p))
			}
			logs, _ := os.ReadFile(modLog)
			for what, text := range map[string]string{"broker log": b.Log(), "module log": string(logs)} {
				if strings.Contains(text, marker) {
					t.Errorf("the %s shows init_args", what)
				}
			}
		})
	}

	t.Run("pkcs11-tool -M", func(t *testing.T) {
		harness.Require(t, "pkcs11-tool")
		b := harness.StartConfigBroker(t, nssConfig(initArgs, "process"), nil)
		env, _ := clientEnv(t, b.Sock)
		out, stderr, code := harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--slot", "2", "-M")
		if code != 0 {
			t.Fatalf("pkcs11-tool -M: exit %d\n%s%s", code, out, stderr)
		}
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "  ") {
				n++
			}
		}
		// "mechanisms CKR_OK N m1 m2 ...": the module's own list, directly.
		want := strings.Fields(line(direct, "mechanisms"))
		if len(want) < 3 || fmt.Sprint(n) != want[2] {
			t.Errorf("pkcs11-tool -M lists %d mechanisms through gop11; NSS's softoken lists %v", n, want[2:3])
		}
		for _, vendor := range []string{"mechtype-0xCE534351", "AES-GCM", "mechtype-0x4021"} {
			if !strings.Contains(strings.ToUpper(out), strings.ToUpper(vendor)) {
				t.Errorf("pkcs11-tool -M through gop11 does not list %s", vendor)
			}
		}
	})
}

func TestSoftHSMIsV240(t *testing.T) {
	bin := build(t)
	tok := harness.NewToken(t, "v240", "1234", "123456")
	direct := run(t, tok.Env(), bin, "/usr/lib/softhsm/libsofthsm2.so")
	b := harness.StartBroker(t, tok)
	proxied := run(t, b.ClientEnv(), bin, harness.Module())
	t.Logf("through gop11:\n%s", strings.Join(proxied, "\n"))
	// SoftHSM2 has no C_GetInterface: the application falls back to the
	// v2.40 list. Through gop11 it finds C_GetInterface, and 3.0 is not
	// there.
	expect(t, "through gop11", proxied, map[string]string{
		"interface-list":        "CKR_OK 1 PKCS 11 2.40",
		"get-interface-3.0":     "CKR_ARGUMENTS_BAD",
		"get-interface-default": "CKR_OK 2.40",
		"info":                  "CKR_OK list 2.40 cryptoki 2.40",
		"ed25519-sign":          "CKR_OK 64",
		"ed25519-verify":        "CKR_OK",
		"ed25519-params-sign":   "CKR_OK",
	})
	if d, p := from(direct, "initialize"), from(proxied, "initialize"); d != p {
		t.Errorf("through gop11 differs from SoftHSM2 directly:\n%s", harness.Diff(d, p))
	}
}

// One broker, a v3.0 and a v2.40 module: the client gets the 3.0
// interface, and a v3.0 call to the v2.40 module's slot answers
// CKR_FUNCTION_NOT_SUPPORTED, while its v2.40 calls work.
func TestMixedVersions(t *testing.T) {
	bin := build(t)
	initArgs := nssDB(t, bin)
	tok := harness.NewToken(t, "mixed", "1234", "123456")
	cfg := nssConfig(initArgs, "process") +
		harness.ModuleTOML("soft", "/usr/lib/softhsm/libsofthsm2.so", "process", "", map[string]string{"SOFTHSM2_CONF": tok.Conf}) +
		harness.TokenTOML("soft", tok.URI(), 5)
	b := harness.StartConfigBroker(t, cfg, nil)
	env, _ := clientEnv(t, b.Sock)
	soft := run(t, env, bin, harness.Module(), "--slot", "5")
	expect(t, "SoftHSM2's slot", soft, map[string]string{
		"interface-list":      "CKR_OK 2 PKCS 11 3.0, PKCS 11 2.40",
		"get-interface-3.0":   "CKR_OK",
		"login-user":          "CKR_FUNCTION_NOT_SUPPORTED",
		"login":               "CKR_OK",
		"gcm-encrypt-init":    "CKR_FUNCTION_NOT_SUPPORTED",
		"cancel":              "CKR_FUNCTION_NOT_SUPPORTED",
		"message-sign-init":   "CKR_FUNCTION_NOT_SUPPORTED",
		"ed25519-sign":        "CKR_OK 64",
		"ed25519-verify":      "CKR_OK",
		"gcm-decrypt-init":    "CKR_FUNCTION_NOT_SUPPORTED",
		"create-key":          "CKR_OK",
		"close-session":       "CKR_OK",
		"ed25519-params-sign": "CKR_OK",
	})
	nss := run(t, env, bin, harness.Module(), "--slot", "2")
	expect(t, "NSS's slot", nss, map[string]string{
		"gcm-decrypt":               "CKR_OK plaintext",
		"chacha20-poly1305-decrypt": "CKR_OK plaintext",
	})
}

// msgmod.c is a v3.0 module with the multi-part message functions NSS's
// softoken lacks: Begin/Next, a generated IV written back into the
// parameter and the tag of the last part, through gop11 as directly.
func TestMessageModule(t *testing.T) {
	bin := build(t)
	mod := harness.CompileC(t, "tests/pkcs11v3/msgmod.c", "libmsgmod.so", "-shared", "-fPIC")
	tok := harness.NewToken(t, "msg", "1234", "123456")
	direct := run(t, tok.Env(), bin, mod)
	expect(t, "directly", direct, map[string]string{
		"gcm-encrypt-begin":        "CKR_OK",
		"gcm-encrypt-last":         "CKR_OK [0-9a-f]{80} [0-9a-f]{32} same",
		"gcm-encrypt-generated-iv": "CKR_OK 000000000000000000000001 [0-9a-f]{32}",
		"gcm-decrypt-generated-iv": "CKR_OK plaintext",
		"gcm-decrypt-last":         "CKR_OK plaintext",
		"cancel-after":             "CKR_OPERATION_NOT_INITIALIZED",
	})
	b := harness.StartBroker(t, tok, "--module", mod)
	proxied := run(t, b.ClientEnv(), bin, harness.Module())
	if d, p := from(direct, "get-interface-3.0"), from(proxied, "get-interface-3.0"); d != p {
		t.Errorf("through gop11 differs from the module directly:\n%s", harness.Diff(d, p))
	}
}
