package service

// Flows of two real services that use a PKCS #11 module, run against
// build/libgop11.so and the config-mode broker: the Azure IoT keys
// service (aziot-keyd) on a TPM token, and a Lacuna Amplia CA on a
// SoftHSM2 token.
//
// The application side is a C client, cclient/p11flow.c, not this test
// binary loading the module through miekg/pkcs11: aziot-keyd is a Rust
// program that dlopens the module and hands C_Initialize a
// CK_C_INITIALIZE_ARGS it filled in itself (CKF_LIBRARY_CANT_CREATE_OS_THREADS
// and four mutex callbacks), sizes the slot list with a non-NULL
// zero-length buffer, and reads the blank-padded CK_TOKEN_INFO fields
// byte by byte. C makes exactly those calls with the spec's structure
// layout; miekg makes its own (NULL for the slot-list size query, no
// mutex callbacks) and would put a second Go runtime in the test binary
// with one load per process, one broker per C_Initialize. A C client is
// also a new process per run, which Amplia's second process needs anyway.

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/broker/p11uri"
	"github.com/gop11/gop11/tests/harness"
	"github.com/pelletier/go-toml/v2"
)

// engineSO is OpenSSL 3's pkcs11 engine (libp11), package
// libengine-pkcs11-openssl.
const engineSO = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"

// Issue broker service: aziot-keyd's flow on a tpm2-pkcs11 token behind
// the broker. keyd's config names libgop11.so and a base slot URI with
// the PIN; the C client does what keyd's pkcs11 crate does (C_Initialize
// with CKF_LIBRARY_CANT_CREATE_OS_THREADS and mutex callbacks, the slot
// whose token label is the URI's token, an R/W session, login with the
// URI's pin-value) and generates "device-id" (EC P-256) and "device-ca"
// (RSA-2048) with keyd's templates. OpenSSL's pkcs11 engine then signs
// with each through pkcs11: URIs and libgop11.so, and openssl verifies
// against the public keys read through libgop11.so.
func TestAziotFlow(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pkcs11-tool", "openssl", "gcc", engineSO} {
		harness.Require(t, tool)
	}
	harness.RequireBuild(t)
	client := harness.P11Flow(t)
	start := time.Now()
	tpm := harness.NewTPMToken(t, "Key pairs", "1234", "12345678")
	t.Logf("TPM token creation took %v", time.Since(start).Round(time.Millisecond))
	b := startBroker(t, `
listen = ["unix://%SOCKET%"]
`+tpmModuleTOML(t, tpm)+`
[[token]]
module = "tpm"
uri = "pkcs11:token=Key pairs"
slot = 20
`)

	// keyd's config (a file in /etc/aziot/keyd/config.d/): its
	// [aziot_keys] table names the module and the base slot.
	keydConfig := fmt.Sprintf("[aziot_keys]\npkcs11_lib_path = %q\npkcs11_base_slot = %q\n",
		harness.Module(), "pkcs11:token=Key pairs?pin-value=1234")
	var keyd struct {
		Keys struct {
			LibPath  string `toml:"pkcs11_lib_path"`
			BaseSlot string `toml:"pkcs11_base_slot"`
		} `toml:"aziot_keys"`
	}
	if err := toml.Unmarshal([]byte(keydConfig), &keyd); err != nil {
		t.Fatalf("keyd config: %v", err)
	}
	base, err := p11uri.Parse(keyd.Keys.BaseSlot)
	if err != nil {
		t.Fatalf("pkcs11_base_slot: %v", err)
	}
	label, ok := base.Token()
	if !ok || label != tpm.Label {
		t.Fatalf("pkcs11_base_slot names token %q, want %q", label, tpm.Label)
	}
	pin, ok := base.PIN()
	if !ok || pin != tpm.PIN {
		t.Fatal("pkcs11_base_slot has no pin-value, or not the token's")
	}

	r := cclient(t, b, client, keyd.Keys.LibPath, []string{"P11FLOW_PIN=" + pin},
		"aziot", "label="+label, "gen-ec", "device-id", "gen-rsa", "device-ca", "2048")
	for _, want := range []string{`token: slot 20, label "Key pairs"`, "generated device-id: label on both halves, CKA_TOKEN true",
		"generated device-ca: label on both halves, CKA_TOKEN true"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("the keyd client's output lacks %q:\n%s", want, r.out)
		}
	}
	t.Logf("aziot client, a fresh process on the TPM token: %s", r.timing)
	t.Logf("aziot client:\n%s", grepLines(r.out, "generated ", "mutex callbacks"))

	// Through libgop11.so the token holds both halves of both keys, each
	// under its label.
	objects := proxyTool(t, b, "--slot", "20", "--login", "--pin", pin, "-O")
	for _, l := range []string{"device-id", "device-ca"} {
		if n := strings.Count(objects, "label:      "+l+"\n"); n != 2 {
			t.Errorf("pkcs11-tool -O shows %d objects labelled %s, want 2 (public and private):\n%s", n, l, objects)
		}
	}

	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	data := file("data")
	writeFile(t, data, []byte("aziot-keyd signs this through libgop11.so\n"))
	writeFile(t, file("other"), []byte("something else\n"))
	sum := sumFile(t, data)
	digest := file("digest")
	writeFile(t, digest, sum)
	pem := map[string]string{}
	for _, l := range []string{"device-id", "device-ca"} {
		der := file(l + ".der")
		proxyTool(t, b, "--slot", "20", "--read-object", "--type", "pubkey", "--label", l, "-o", der)
		pem[l] = file(l + ".pem")
		mustOpenSSL(t, nil, "pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem[l])
	}

	// The key URIs keyd hands to its OpenSSL engine: the base slot's
	// token, the key's label as object, the PIN as pin-value.
	keyURI := func(object string) string {
		u := &p11uri.URI{Path: map[string]string{"token": label, "object": object, "type": "private"}, Query: map[string]string{}}
		return u.String() + "?pin-value=" + pin
	}
	if got, want := keyURI("device-id"), "pkcs11:token=Key%20pairs;object=device-id;type=private?pin-value=1234"; got != want {
		t.Fatalf("key URI %q, want %q", got, want)
	}
	engineEnv := []string{"GOP11_BROKER=unix://" + b.socket, "PKCS11_MODULE_PATH=" + keyd.Keys.LibPath}
	mustOpenSSL(t, engineEnv, "pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-inkey", keyURI("device-id"),
		"-sign", "-in", digest, "-out", file("id.sig"))
	mustOpenSSL(t, nil, "pkeyutl", "-verify", "-pubin", "-inkey", pem["device-id"], "-in", digest, "-sigfile", file("id.sig"))
	mustOpenSSL(t, engineEnv, "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", keyURI("device-ca"),
		"-out", file("ca.sig"), data)
	mustOpenSSL(t, nil, "dgst", "-sha256", "-verify", pem["device-ca"], "-signature", file("ca.sig"), data)
	// The checks have teeth: the signatures do not verify over other data.
	if r := openssl(t, nil, "dgst", "-sha256", "-verify", pem["device-ca"], "-signature", file("ca.sig"), file("other")); r.Code == 0 {
		t.Errorf("the device-ca signature verified over other data:\n%s%s", r.Stdout, r.Stderr)
	}
	if r := openssl(t, nil, "dgst", "-sha256", "-verify", pem["device-id"], "-signature", file("id.sig"), file("other")); r.Code == 0 {
		t.Errorf("the device-id signature verified over other data:\n%s%s", r.Stdout, r.Stderr)
	}

	// The keyd client's two key pairs and the engine's two signatures
	// reached tpm2-pkcs11 through the broker's workers.
	if n := workersByModule(t, b)["tpm"]; n < 2 {
		t.Errorf("the broker log shows %d workers for module tpm, want one per client process at least", n)
	}
	if c := moduleCalls(t, b)["tpm"]; c["C_GenerateKeyPair"] != 2 || c["C_Sign"] < 2 {
		t.Errorf("tpm2-pkcs11 answered C_GenerateKeyPair %d times and C_Sign %d times, want 2 and at least 2", c["C_GenerateKeyPair"], c["C_Sign"])
	}
}

// amplia is the key store of a Lacuna Amplia CA, in the settings' terms.
type amplia struct {
	Type              string
	Module            string
	Pin               string
	TokenSerialNumber string
}

// Issue broker service: a CA configured like Lacuna Amplia on a SoftHSM2
// token behind the broker, found by its serial number among two served
// tokens. Process 1 (CKF_OS_LOCKING_OK, as a multi-threaded .NET
// application) walks the slots with C_GetSlotList(CK_TRUE) and
// C_GetTokenInfo, opens an R/W session, logs in, generates an RSA-2048
// key pair labelled "amplia-ca", signs (CKM_SHA256_RSA_PKCS) and verifies;
// process 2 finds the key again by label and signs the same data. openssl
// verifies both signatures against the public key read through
// libgop11.so; PKCS #1 v1.5 being deterministic, they are the same bytes.
func TestAmpliaFlow(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pkcs11-tool", "openssl", "gcc", harness.SoftHSM} {
		harness.Require(t, tool)
	}
	harness.RequireBuild(t)
	client := harness.P11Flow(t)
	decoy := harness.NewToken(t, "other-ca", "1234", "123456")
	tok := decoy.AddToken(t, "amplia", "5678", "123456")
	b := startBroker(t, fmt.Sprintf(`
listen = ["unix://%%SOCKET%%"]

[[module]]
name = "softhsm"
path = %q
[module.env]
SOFTHSM2_CONF = %q

[[token]]
module = "softhsm"
uri = "pkcs11:serial=%s"
slot = 7

[[token]]
module = "softhsm"
uri = "pkcs11:serial=%s"
slot = 8
`, harness.SoftHSM, tok.Conf, decoy.Serial, tok.Serial))

	// appsettings.json: the module by its file name, found by the loader
	// in LD_LIBRARY_PATH.
	settings := fmt.Sprintf(`{"Amplia": {"KeyStores": {"HsmCA": {"Type": "Pkcs11", "Module": "libgop11.so", "Pin": %q, "TokenSerialNumber": %q}}}}`,
		tok.PIN, tok.Serial)
	var cfg struct {
		Amplia struct{ KeyStores map[string]amplia }
	}
	if err := json.Unmarshal([]byte(settings), &cfg); err != nil {
		t.Fatalf("settings: %v", err)
	}
	ks := cfg.Amplia.KeyStores["HsmCA"]
	if ks.Type != "Pkcs11" {
		t.Fatalf("key store type %q", ks.Type)
	}
	env := []string{"P11FLOW_PIN=" + ks.Pin, "LD_LIBRARY_PATH=" + filepath.Dir(harness.Module())}

	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	tbs := file("tbs")
	writeFile(t, tbs, []byte("to-be-signed certificate of an Amplia CA\n"))
	writeFile(t, file("other"), []byte("another certificate\n"))

	p1 := cclient(t, b, client, ks.Module, env, "oslocking", "serial="+ks.TokenSerialNumber,
		"gen-rsa", "amplia-ca", "2048",
		"sign", "amplia-ca", "sha256-rsa-pkcs", tbs, file("sig1"),
		"verify", "amplia-ca", "sha256-rsa-pkcs", tbs, file("sig1"))
	for _, want := range []string{"token: slot 8, label \"amplia\", serial \"" + tok.Serial + "\"",
		"generated amplia-ca: label on both halves", "signed with amplia-ca", "verified with amplia-ca"} {
		if !strings.Contains(p1.out, want) {
			t.Errorf("process 1's output lacks %q:\n%s", want, p1.out)
		}
	}
	t.Logf("Amplia process 1 (SoftHSM2, a fresh process): %s", p1.timing)
	p2 := cclient(t, b, client, ks.Module, env, "oslocking", "serial="+ks.TokenSerialNumber,
		"sign", "amplia-ca", "sha256-rsa-pkcs", tbs, file("sig2"))
	if !strings.Contains(p2.out, "signed with amplia-ca (sha256-rsa-pkcs): 256 bytes") {
		t.Errorf("process 2's output:\n%s", p2.out)
	}
	t.Logf("Amplia process 2 (SoftHSM2, a fresh process): %s", p2.timing)

	proxyTool(t, b, "--slot", "8", "--read-object", "--type", "pubkey", "--label", "amplia-ca", "-o", file("ca.der"))
	mustOpenSSL(t, nil, "pkey", "-pubin", "-inform", "DER", "-in", file("ca.der"), "-out", file("ca.pem"))
	for _, sig := range []string{"sig1", "sig2"} {
		mustOpenSSL(t, nil, "dgst", "-sha256", "-verify", file("ca.pem"), "-signature", file(sig), tbs)
		if r := openssl(t, nil, "dgst", "-sha256", "-verify", file("ca.pem"), "-signature", file(sig), file("other")); r.Code == 0 {
			t.Errorf("%s verified over other data:\n%s%s", sig, r.Stdout, r.Stderr)
		}
	}
	s1, _ := os.ReadFile(file("sig1"))
	s2, _ := os.ReadFile(file("sig2"))
	if string(s1) != string(s2) {
		t.Error("the two processes' RSA PKCS #1 v1.5 signatures over the same data differ: not the same key")
	}
	// The key went to the token with the configured serial number only.
	if out := proxyTool(t, b, "--slot", "7", "--login", "--pin", decoy.PIN, "-O"); strings.Contains(out, "amplia-ca") {
		t.Errorf("the other token (slot 7) holds amplia-ca:\n%s", out)
	}
	if n := workersByModule(t, b)["softhsm"]; n < 2 {
		t.Errorf("the broker log shows %d workers for module softhsm, want one per client process at least", n)
	}
	if c := moduleCalls(t, b)["softhsm"]; c["C_GenerateKeyPair"] != 1 || c["C_Sign"] < 2 || c["C_Verify"] != 1 {
		t.Errorf("SoftHSM2 answered C_GenerateKeyPair %d, C_Sign %d and C_Verify %d times; want 1, at least 2, and 1",
			c["C_GenerateKeyPair"], c["C_Sign"], c["C_Verify"])
	}
}

// cRun is what one p11flow run printed.
type cRun struct {
	out    string // standard output
	timing string // its timing line, made readable
}

// runCClient runs p11flow on build/libgop11.so against broker b; pin ""
// means no login.
func runCClient(t *testing.T, b *broker, bin, pin string, args ...string) cRun {
	t.Helper()
	var env []string
	if pin != "" {
		env = []string{"P11FLOW_PIN=" + pin}
	}
	return cclient(t, b, bin, harness.Module(), env, args...)
}

var timingLine = regexp.MustCompile(`(?m)^timing initialize_us=(\d+) find_us=(\d+) open_session_us=(\d+) total_us=(\d+)$`)

// cclient runs `p11flow MODULE ARGS...` against broker b with env added;
// a non-zero exit fails the test.
func cclient(t *testing.T, b *broker, bin, module string, env []string, args ...string) cRun {
	t.Helper()
	r := harness.RunCmd(t, harness.Command{
		Name:    bin,
		Args:    append([]string{module}, args...),
		Env:     append([]string{"GOP11_BROKER=unix://" + b.socket}, env...),
		Timeout: 3 * time.Minute, // RSA key generation in a software TPM on a loaded machine
	})
	if r.Code != 0 {
		t.Fatalf("p11flow %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	m := timingLine.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("p11flow printed no timing line:\n%s", r.Stdout)
	}
	d := func(s string) time.Duration {
		n, _ := strconv.ParseInt(s, 10, 64)
		return (time.Duration(n) * time.Microsecond).Round(10 * time.Microsecond)
	}
	return cRun{out: r.Stdout, timing: fmt.Sprintf("C_Initialize %v, C_GetInfo and finding the token %v, first C_OpenSession %v: %v from C_Initialize to an open session",
		d(m[1]), d(m[2]), d(m[3]), d(m[4]))}
}

func openssl(t *testing.T, env []string, args ...string) harness.Result {
	t.Helper()
	return harness.RunCmd(t, harness.Command{Name: "openssl", Args: args, Env: env})
}

func mustOpenSSL(t *testing.T, env []string, args ...string) {
	t.Helper()
	if r := openssl(t, env, args...); r.Code != 0 {
		t.Fatalf("openssl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
}

func sumFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return s[:]
}

// grepLines returns the lines of s that start with one of prefixes.
func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, "  "+l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
