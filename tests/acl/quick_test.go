package acl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestQuickModePolicy: quick mode (--module) with a config file enforces
// its [[client]] policies in each client's worker, serves mutual TLS
// (relayed to the worker), and applies a changed policy on SIGHUP to a
// connection already open.
func TestQuickModePolicy(t *testing.T) {
	tok := tokenWithKeys(t)
	ca := harness.NewCA(t, "client CA")
	server := ca.ServerCert()
	dev := ca.Issue("dev.example.org", harness.CertOptions{DNS: []string{"dev.example.org"}})
	stranger := ca.Issue("stranger.example.org", harness.CertOptions{DNS: []string{"stranger.example.org"}})
	addr := freePort(t)
	cfg := func(rootObjects string) string {
		return fmt.Sprintf(`listen = ["unix://%%SOCK%%", "tls://%s"]
[tls]
cert = %q
key = %q
client_ca = %q

[[client]]
name = "root"
uids = [%d]
objects = [%q]
mechanisms = ["CKM_ECDSA"]

[[client]]
name = "dev"
cert_names = ["dev.example.org"]
objects = ["label:dev-*"]
operations = ["sign", "find", "read"]
`, addr, server.CertPath, server.KeyPath, ca.CertPath, os.Geteuid(), rootObjects)
	}
	b := startQuick(t, tok, cfg("label:ca-*"))
	dir := t.TempDir()
	tool := func(env []string, args ...string) string {
		out, stderr, code := run(t, env, append([]string{"pkcs11-tool", "--module", harness.Module(), "--token-label", "shared"}, args...)...)
		if code != 0 {
			t.Fatalf("pkcs11-tool %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
		return out
	}
	unix := []string{"GOP11_BROKER=unix://" + b.Sock}
	if out := tool(unix, "--login", "--pin", userPIN, "-O"); !strings.Contains(out, "ca-key") || strings.Contains(out, "dev-key") {
		t.Errorf("root over the unix socket should see ca-key only:\n%s", out)
	}
	if out := tool(unix, "-M"); !strings.Contains(out, "ECDSA") || strings.Contains(out, "RSA") {
		t.Errorf("root should see CKM_ECDSA only:\n%s", out)
	}
	tlsConf := func(c *harness.Cert) []string {
		p := filepath.Join(dir, filepath.Base(c.CertPath)+".toml")
		writeFile(t, p, fmt.Sprintf("broker = \"tls://%s\"\n[tls]\nca = %q\ncert = %q\nkey = %q\n", addr, ca.CertPath, c.CertPath, c.KeyPath))
		return []string{"GOP11_CONFIG=" + p}
	}
	if out := tool(tlsConf(dev), "--login", "--pin", userPIN, "-O"); !strings.Contains(out, "dev-key") || strings.Contains(out, "ca-key") {
		t.Errorf("dev over TLS should see dev-key only:\n%s", out)
	}
	in := filepath.Join(dir, "data")
	writeFile(t, in, "to be signed")
	tool(tlsConf(dev), "--login", "--pin", userPIN, "--sign", "-m", "ECDSA", "--id", "02", "-i", in, "-o", filepath.Join(dir, "sig"))
	if out, stderr, code := run(t, tlsConf(dev), "pkcs11-tool", "--module", harness.Module(), "--token-label", "shared", "--generate-random", "8"); code == 0 {
		t.Errorf("dev may not make random numbers:\n%s%s", out, stderr)
	}
	b.WaitLog(`"call":"C_GenerateRandom"`, 5*time.Second)
	if !strings.Contains(b.Log(), `"rule":"operations: random","rv":"CKR_ACTION_PROHIBITED"`) {
		t.Error("the worker's denial is not in the broker's log")
	}
	if out, stderr, code := run(t, tlsConf(stranger), "pkcs11-tool", "--module", harness.Module(), "-L"); code == 0 || !strings.Contains(out+stderr, "CKR_DEVICE_ERROR") {
		t.Errorf("a certificate no [[client]] names must be refused:\n%s%s", out, stderr)
	}
	// The worker runs its connection's TLS lanes itself.
	checkTLSLanes(t, addr, ca, dev, stranger)
	b.WaitLog(`"message":"TLS lane refused"`, 5*time.Second)

	// SIGHUP: the open connection's next call follows the new policy.
	c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Sock}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	slot, _ := strconv.ParseUint(tok.Slot, 10, 64)
	var s wire.OpenSessionResponse
	if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slot, Flags: wire.CKF_SERIAL_SESSION}, &s); err != nil {
		t.Fatal(err)
	}
	var found wire.FindObjectsResponse
	c.Call(wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s.Session, Template: []wire.Attribute{}}, &wire.FindObjectsInitResponse{})
	c.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: s.Session, MaxObjectCount: 10}, &found)
	c.Call(wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: s.Session}, &wire.FindObjectsFinalResponse{})
	if len(found.Objects) != 1 {
		t.Fatalf("found %v, want ca-key's public key alone", found.Objects)
	}
	read := func() error {
		return c.Call(wire.CallGetAttributeValue, &wire.GetAttributeValueRequest{Session: s.Session, Object: found.Objects[0], Types: []uint64{wire.CKA_LABEL}}, &wire.GetAttributeValueResponse{})
	}
	if err := read(); err != nil {
		t.Fatalf("reading ca-key before the reload: %v", err)
	}
	n := strings.Count(b.Log(), "policies reloaded")
	b.Reload(cfg("label:nothing-*"))
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(b.Log(), "policies reloaded") == n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := read(); !errors.Is(err, wire.CKR_OBJECT_HANDLE_INVALID) {
		t.Errorf("reading ca-key after the policy hid it: %v, want CKR_OBJECT_HANDLE_INVALID", err)
	}
}
