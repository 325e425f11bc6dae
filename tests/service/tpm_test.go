package service

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

// Issue broker service: one broker serves two modules at once, SoftHSM2
// and tpm2-pkcs11. Of SoftHSM2's two tokens only the one its URI selects
// is served; each served token appears under its configured slot ID;
// pkcs11-tool, loading libgop11.so, makes an EC key on each, signs a
// digest, and openssl verifies both signatures against the public keys
// read back through the proxy. The broker log shows a worker for each
// module. Also logs the TPM token's set-up time and, per module, how
// long C_Initialize and the first C_OpenSession take (the worker start).
func TestTwoModulesSoftHSMAndTPM(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pkcs11-tool", "openssl", "gcc", harness.SoftHSM} {
		harness.Require(t, tool)
	}
	harness.RequireBuild(t)
	soft := harness.NewToken(t, "alpha", "1234", "123456")
	beta := soft.AddToken(t, "beta", "1234", "123456")
	start := time.Now()
	tpm := harness.NewTPMToken(t, "gop11-tpm", "4321", "87654321")
	t.Logf("TPM token creation took %v", time.Since(start).Round(time.Millisecond))

	b := startBroker(t, fmt.Sprintf(`
listen = ["unix://%%SOCKET%%"]

[[module]]
name = "softhsm"
path = %q
[module.env]
SOFTHSM2_CONF = %q
%s
[[token]]
module = "softhsm"
uri = "pkcs11:token=beta"
slot = 5

[[token]]
module = "tpm"
uri = %q
slot = 9
`, harness.SoftHSM, soft.Conf, tpmModuleTOML(t, tpm), "pkcs11:token="+tpm.Label))

	// -L lists exactly the selected tokens, under the configured slot IDs.
	out := proxyTool(t, b, "-L")
	if got, want := listedTokens(out), map[string]string{"0x5": "beta", "0x9": tpm.Label}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pkcs11-tool -L lists %v, want %v\n%s", got, want, out)
	}
	if strings.Contains(out, "alpha") {
		t.Errorf("pkcs11-tool -L shows alpha, which no URI selects:\n%s", out)
	}

	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	digest := sha256.Sum256([]byte("one broker, two modules"))
	writeFile(t, file("digest"), digest[:])
	other := sha256.Sum256([]byte("another message"))
	writeFile(t, file("other"), other[:])
	keys := []struct{ slot, id, label, pin string }{
		{"5", "05", "soft-ec", beta.PIN},
		{"9", "09", "tpm-ec", tpm.PIN},
	}
	for _, k := range keys {
		login := []string{"--slot", k.slot, "--login", "--pin", k.pin}
		out := proxyTool(t, b, append(login, "--keypairgen", "--key-type", "EC:prime256v1", "--id", k.id, "--label", k.label)...)
		if !strings.Contains(out, "label:      "+k.label) {
			t.Errorf("slot %s: keypairgen output lacks the label %s:\n%s", k.slot, k.label, out)
		}
		proxyTool(t, b, append(login, "--sign", "-m", "ECDSA", "--id", k.id, "-i", file("digest"),
			"-o", file("sig"+k.slot), "--signature-format", "openssl")...)
		proxyTool(t, b, "--slot", k.slot, "--read-object", "--type", "pubkey", "--id", k.id, "-o", file("pub"+k.slot+".der"))
	}
	verify := func(pub, data, sig string) (string, bool) {
		r := harness.RunCmd(t, harness.Command{Name: "openssl", Args: []string{"pkeyutl", "-verify", "-pubin", "-keyform", "DER",
			"-inkey", file(pub), "-in", file(data), "-sigfile", file(sig)}})
		return r.Stdout + r.Stderr, r.Code == 0 && strings.Contains(r.Stdout, "Signature Verified Successfully")
	}
	for _, k := range keys {
		if out, ok := verify("pub"+k.slot+".der", "digest", "sig"+k.slot); !ok {
			t.Errorf("slot %s: openssl does not verify the signature:\n%s", k.slot, out)
		}
		// The checks have teeth: another digest does not verify.
		if out, ok := verify("pub"+k.slot+".der", "other", "sig"+k.slot); ok {
			t.Errorf("slot %s: openssl verified the signature over another digest:\n%s", k.slot, out)
		}
	}
	// Two keys on two modules: neither key verifies the other's signature.
	if out, ok := verify("pub5.der", "digest", "sig9"); ok {
		t.Errorf("the SoftHSM2 key verifies the TPM key's signature: one key behind both slots?\n%s", out)
	}

	// Worker start per module: C_Initialize, then C_OpenSession as the
	// first call to reach the module, in a fresh process each.
	client := harness.P11Flow(t)
	for _, s := range []struct{ slot, module string }{{"5", "SoftHSM2"}, {"9", "tpm2-pkcs11"}} {
		r := runCClient(t, b, client, "", "aziot", "slot="+s.slot, "open")
		t.Logf("%s (slot %s), a fresh process: %s", s.module, s.slot, r.timing)
	}

	// Each module got its own workers, and the key generation and the
	// signature reached each module, once each.
	workers := workersByModule(t, b)
	calls := moduleCalls(t, b)
	for _, m := range []string{"softhsm", "tpm"} {
		if workers[m] == 0 {
			t.Errorf("the broker log shows no worker started for module %s for a client (workers by module: %v)", m, workers)
		}
		if c := calls[m]; c["C_GenerateKeyPair"] != 1 || c["C_Sign"] < 1 {
			t.Errorf("module %s's workers logged C_GenerateKeyPair %d times and C_Sign %d times, want 1 and at least 1",
				m, c["C_GenerateKeyPair"], c["C_Sign"])
		}
	}
	served := servedTokens(t, b)
	if got, want := fmt.Sprint(served), fmt.Sprintf("map[beta:5 %s:9]", tpm.Label); got != want {
		t.Errorf("the broker log says it serves %s, want %s", got, want)
	}
}

// tpmModuleTOML returns a [[module]] table named "tpm" for tok, with its
// environment (tok.Env()) in [module.env] and a call timeout generous
// enough for RSA key generation in a software TPM on a loaded machine.
func tpmModuleTOML(t *testing.T, tok *harness.TPMToken) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n[[module]]\nname = \"tpm\"\npath = %q\ncall_timeout = \"2m\"\n[module.env]\n", tok.Module)
	for _, kv := range tok.Env() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("TPM token environment entry %q has no '='", kv)
		}
		fmt.Fprintf(&b, "%s = %q\n", k, v)
	}
	return b.String()
}

// proxyTool runs pkcs11-tool on build/libgop11.so against broker b and
// returns its standard output; a non-zero exit fails the test.
func proxyTool(t *testing.T, b *broker, args ...string) string {
	t.Helper()
	r := harness.RunCmd(t, harness.Command{
		Name: "pkcs11-tool",
		Args: append([]string{"--module", harness.Module()}, args...),
		Env:  []string{"GOP11_BROKER=unix://" + b.socket},
	})
	if r.Code != 0 {
		t.Fatalf("pkcs11-tool %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

var (
	listedSlot  = regexp.MustCompile(`^Slot \d+ \((0x[0-9a-f]+)\):`)
	listedLabel = regexp.MustCompile(`^\s+token label\s*:\s*(.*?)\s*$`)
)

// listedTokens maps slot ID (as pkcs11-tool -L prints it, "0x5") to token
// label.
func listedTokens(out string) map[string]string {
	m := map[string]string{}
	slot := ""
	for _, line := range strings.Split(out, "\n") {
		if s := listedSlot.FindStringSubmatch(line); s != nil {
			slot = s[1]
			m[slot] = ""
		} else if l := listedLabel.FindStringSubmatch(line); l != nil && slot != "" {
			m[slot] = l[1]
		}
	}
	return m
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// logEntries returns the broker log's JSON lines once the log has been
// quiet for 300 ms (at most 5 s): workers log through the broker, so a
// client may exit before its last lines are in.
func logEntries(t *testing.T, b *broker) []map[string]any {
	t.Helper()
	last, quiet, deadline := -1, time.Now(), time.Now().Add(5*time.Second)
	for time.Since(quiet) < 300*time.Millisecond && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if n := len(b.Log()); n != last {
			last, quiet = n, time.Now()
		}
	}
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.Log()))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var e map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// workersByModule counts the broker's "worker started" lines by module,
// for client connections only: the broker also starts a worker per module
// to probe its tokens when it loads the config ("probe" field).
func workersByModule(t *testing.T, b *broker) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, e := range logEntries(t, b) {
		if _, probe := e["probe"]; e["message"] == "worker started" && !probe && e["conn"] != nil {
			m, _ := e["module"].(string)
			n[m]++
		}
	}
	return n
}

// moduleCalls counts, per module and function, the calls that the
// module's workers logged as answered CKR_OK: what reached each vendor
// module. Worker lines carry "worker" and the module's name.
func moduleCalls(t *testing.T, b *broker) map[string]map[string]int {
	t.Helper()
	n := map[string]map[string]int{}
	for _, e := range logEntries(t, b) {
		m, _ := e["module"].(string)
		call, _ := e["call"].(string)
		if _, worker := e["worker"]; !worker || e["message"] != "call" || e["rv"] != "CKR_OK" || call == "" {
			continue
		}
		if n[m] == nil {
			n[m] = map[string]int{}
		}
		n[m][call]++
	}
	return n
}

// servedTokens maps token label to virtual slot from the broker's
// "token served" lines.
func servedTokens(t *testing.T, b *broker) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, e := range logEntries(t, b) {
		if e["message"] == "token served" {
			label, _ := e["token"].(string)
			slot, _ := e["slot"].(float64)
			m[label] = int(slot)
		}
	}
	return m
}
