package acl

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// TestAmpliaBrokerPIN: the Amplia flow of tests/service (a C application
// that loads libgop11.so by file name, finds the token by serial, logs in
// with the key store's Pin=, generates and signs with RSA) with Pin= set
// to a placeholder: the broker holds the PIN, and the signatures verify
// with openssl. The PIN is in no log.
func TestAmpliaBrokerPIN(t *testing.T) {
	for _, tool := range []string{"pkcs11-tool", "openssl", "gcc"} {
		harness.Require(t, tool)
	}
	tok := tokenWithKeys(t)
	flow := harness.P11Flow(t)
	b := startBroker(t, `listen = ["unix://%SOCK%"]`+"\n"+moduleAndTokens(tok, harness.SoftHSM, "process", pinFile(t))+fmt.Sprintf(`
[[client]]
name = "amplia"
uids = [%d]
slots = [1]
objects = ["label:amplia-*"]
operations = ["generate", "sign", "verify", "find", "read"]
login = "broker"
`, os.Geteuid()))

	settings := fmt.Sprintf(`{"Amplia": {"KeyStores": {"HsmCA": {"Type": "Pkcs11", "Module": "libgop11.so", "Pin": "placeholder", "TokenSerialNumber": %q}}}}`, tok.Serial)
	var cfg struct {
		Amplia struct {
			KeyStores map[string]struct{ Type, Module, Pin, TokenSerialNumber string }
		}
	}
	if err := json.Unmarshal([]byte(settings), &cfg); err != nil {
		t.Fatal(err)
	}
	ks := cfg.Amplia.KeyStores["HsmCA"]
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	env := []string{"GOP11_BROKER=unix://" + b.Sock, "P11FLOW_PIN=" + ks.Pin, "LD_LIBRARY_PATH=" + filepath.Dir(harness.Module()), "GOP11_LOG=" + file("module.log")}
	tbs := file("tbs")
	writeFile(t, tbs, "to-be-signed certificate of an Amplia CA\n")
	var all logs
	flowRun := func(args ...string) string {
		t.Helper()
		out, stderr, code := run(t, env, append([]string{flow, ks.Module, "oslocking", "serial=" + ks.TokenSerialNumber}, args...)...)
		all.add(out, stderr)
		if code != 0 {
			t.Fatalf("p11flow %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
		return out
	}
	out := flowRun("gen-rsa", "amplia-ca", "2048", "sign", "amplia-ca", "sha256-rsa-pkcs", tbs, file("sig1"),
		"verify", "amplia-ca", "sha256-rsa-pkcs", tbs, file("sig1"))
	for _, want := range []string{"token: slot 1", "generated amplia-ca", "signed with amplia-ca", "verified with amplia-ca"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run lacks %q:\n%s", want, out)
		}
	}
	// A second process, as a CA restarted.
	if out := flowRun("sign", "amplia-ca", "sha256-rsa-pkcs", tbs, file("sig2")); !strings.Contains(out, "signed with amplia-ca (sha256-rsa-pkcs): 256 bytes") {
		t.Errorf("second run:\n%s", out)
	}
	out, stderr, code := run(t, env, "pkcs11-tool", "--module", harness.Module(), "--read-object", "--type", "pubkey", "--label", "amplia-ca", "-o", file("ca.der"))
	if code != 0 {
		t.Fatalf("read the public key: %s%s", out, stderr)
	}
	for _, args := range [][]string{{"pkey", "-pubin", "-inform", "DER", "-in", file("ca.der"), "-out", file("ca.pem")},
		{"dgst", "-sha256", "-verify", file("ca.pem"), "-signature", file("sig1"), tbs},
		{"dgst", "-sha256", "-verify", file("ca.pem"), "-signature", file("sig2"), tbs}} {
		if out, stderr, code := run(t, nil, append([]string{"openssl"}, args...)...); code != 0 {
			t.Errorf("openssl %s: %s%s", strings.Join(args, " "), out, stderr)
		}
	}
	// The broker made the logins, with its PIN: every C_Login answered OK.
	if n := strings.Count(b.Log(), `"call":"C_Login","rv":"CKR_OK"`); n < 2 {
		t.Errorf("%d successful C_Login calls logged, want one per process at least", n)
	}
	all.add(b.Log(), readFile(file("module.log")))
	noPIN(t, "the logs and outputs of the run", all.buf.String())
}
