package acl

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string { return fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)) }

// TestMutualTLS: pkcs11-tool signs over tls://127.0.0.1 with a client
// certificate a policy names, and every other client is refused before
// any PKCS #11 call, with a log line on each side saying why.
func TestMutualTLS(t *testing.T) {
	harness.Require(t, "pkcs11-tool")
	tok := tokenWithKeys(t)
	ca, other := harness.NewCA(t, "client CA"), harness.NewCA(t, "another CA")
	server := ca.ServerCert()
	good := ca.Issue("amplia.example.org", harness.CertOptions{DNS: []string{"amplia.example.org"}})
	expired := ca.Issue("amplia.example.org", harness.CertOptions{DNS: []string{"amplia.example.org"}, Expired: true})
	foreign := other.Issue("amplia.example.org", harness.CertOptions{DNS: []string{"amplia.example.org"}})
	revoked := ca.Issue("amplia.example.org", harness.CertOptions{DNS: []string{"amplia.example.org"}, Serial: 0x1fa003})
	nameless := ca.Issue("someone.example.org", harness.CertOptions{DNS: []string{"someone.example.org"}})
	addr := freePort(t)
	cfg := fmt.Sprintf(`listen = ["unix://%%SOCK%%", "tls://%s"]
[tls]
cert = %q
key = %q
client_ca = %q
revoked_serials = ["1f:a0:03"]
`, addr, server.CertPath, server.KeyPath, ca.CertPath) + moduleAndTokens(tok, harness.SoftHSM, "process", pinFile(t)) + `
[[client]]
name = "amplia"
cert_names = ["amplia.example.org"]
slots = [1]
objects = ["label:ca-*"]
operations = ["sign", "verify", "find", "read"]
login = "broker"
`
	b := startBroker(t, cfg)
	dir := t.TempDir()
	clientConf := func(name string, c *harness.Cert) string {
		p := filepath.Join(dir, name+".toml")
		writeFile(t, p, fmt.Sprintf("broker = \"tls://%s\"\ndial_timeout = \"3s\"\n[tls]\nca = %q\ncert = %q\nkey = %q\n", addr, ca.CertPath, c.CertPath, c.KeyPath))
		return p
	}
	in := filepath.Join(dir, "data")
	writeFile(t, in, "to be signed")

	// The good client: pkcs11-tool over TLS, the PIN held by the broker.
	env := []string{"GOP11_CONFIG=" + clientConf("good", good), "GOP11_LOG=" + filepath.Join(dir, "good.log")}
	out, stderr, code := run(t, env, "pkcs11-tool", "--module", harness.Module(), "--login", "--pin", "0000",
		"--sign", "-m", "ECDSA", "--id", "01", "-i", in, "-o", filepath.Join(dir, "sig"))
	if code != 0 {
		t.Fatalf("pkcs11-tool --sign over TLS: exit %d\n%s%s", code, out, stderr)
	}
	out, stderr, _ = run(t, env, "pkcs11-tool", "--module", harness.Module(), "-O")
	if !strings.Contains(out, "ca-key") || strings.Contains(out, "dev-key") {
		t.Errorf("over TLS the policy's objects filter applies too:\n%s%s", out, stderr)
	}
	// The same for a client given the endpoint by GOP11_BROKER.
	env = append(env, "GOP11_BROKER=tls://"+addr)
	if out, stderr, code = run(t, env, "pkcs11-tool", "--module", harness.Module(), "-L"); code != 0 {
		t.Errorf("GOP11_BROKER=tls:// with [tls] from GOP11_CONFIG: exit %d\n%s%s", code, out, stderr)
	}

	// Refused clients, through libgop11.so: C_Initialize fails with
	// CKR_DEVICE_ERROR, its log says why, the broker's log too.
	for _, tc := range []struct {
		name      string
		cert      *harness.Cert
		brokerWhy string
		clientWhy string
	}{
		{"expired", expired, "certificate has expired", "refused this client"},
		{"another CA", foreign, "certificate signed by unknown authority", "refused this client"},
		{"revoked", revoked, "certificate serial 1fa003 is revoked", "refused this client"},
		{"no [[client]]", nameless, "client refused: no [[client]] matches its identity", "no [[client]] of the broker's config matches cert=someone.example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logPath := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".log")
			env := []string{"GOP11_CONFIG=" + clientConf(tc.name, tc.cert), "GOP11_LOG=" + logPath}
			start := time.Now()
			out, stderr, code := run(t, env, "pkcs11-tool", "--module", harness.Module(), "-L")
			if code == 0 || !strings.Contains(out+stderr, "CKR_DEVICE_ERROR") {
				t.Errorf("pkcs11-tool -L: exit %d, want C_Initialize CKR_DEVICE_ERROR\n%s%s", code, out, stderr)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("refusal took %v", d)
			}
			if log := readFile(logPath); !strings.Contains(log, tc.clientWhy) || strings.Count(log, `"level":"error"`) != 1 {
				t.Errorf("client log should have one error line with %q:\n%s", tc.clientWhy, log)
			}
			b.WaitLog(tc.brokerWhy, 5*time.Second)
		})
	}

	checkTLSLanes(t, addr, ca, good, nameless)

	// Below libgop11.so: a TLS client without a certificate, and a
	// plaintext client, are refused before any call; neither hangs.
	pool, _ := wire.ClientTLS(ca.CertPath, good.CertPath, good.KeyPath, "")
	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool.RootCAs}
	ep, _ := wire.ParseEndpoint("tls://" + addr)
	_, err := wire.Dial(ep, wire.ClientConfig{DialTimeout: 3 * time.Second, TLS: noCert})
	if !errors.Is(err, wire.ErrRefused) || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("no client certificate: %v, want ErrRefused (certificate required)", err)
	}
	b.WaitLog("client didn't provide a certificate", 5*time.Second)
	start := time.Now()
	_, err = wire.Dial(wire.Endpoint{Network: "tcp", Address: addr}, wire.ClientConfig{DialTimeout: 3 * time.Second})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("a plaintext client on the TLS port: %v after %v", err, time.Since(start))
	}
	b.WaitLog("first record does not look like a TLS handshake", 5*time.Second)
	if n := strings.Count(b.Log(), "client refused: TLS handshake failed"); n < 5 {
		t.Errorf("%d TLS refusals logged, want 5 (expired, another CA, revoked, no certificate, plaintext)", n)
	}
	for _, line := range strings.Split(b.Log(), "\n") {
		if strings.Contains(line, "TLS handshake failed") && !strings.Contains(line, `"remote":"127.0.0.1:`) {
			t.Errorf("refusal without the peer: %s", line)
		}
	}
	noPIN(t, "the broker log", b.Log())
}

// TestPlaintextTCPRefused: tcp:// off loopback, or without insecure_tcp,
// is a config error; tls:// without [tls] too.
func TestPlaintextTCPRefused(t *testing.T) {
	harness.RequireBuild(t)
	dir := t.TempDir()
	for _, tc := range []struct{ listen, extra, want string }{
		{"tcp://0.0.0.0:7011", "insecure_tcp = true", "plaintext tcp:// is allowed only on a loopback address"},
		{"tcp://127.0.0.1:7011", "", "plaintext tcp:// needs insecure_tcp = true"},
		{"tls://127.0.0.1:7011", "", "a tls:// listener needs a [tls] section"},
	} {
		p := filepath.Join(dir, "b.toml")
		writeFile(t, p, fmt.Sprintf("listen = [%q]\n%s\n[[module]]\nname = \"s\"\npath = %q\n", tc.listen, tc.extra, harness.SoftHSM))
		out, stderr, code := run(t, nil, harness.BrokerBin(), "--check-config", p)
		if code != 2 || !strings.Contains(stderr, "b.toml:1: listen[0]: "+tc.listen+": "+tc.want) {
			t.Errorf("%s %s: exit %d, %s%s", tc.listen, tc.extra, code, out, stderr)
		}
	}
	// Quick mode: tcp:// only with --insecure-tcp; its config holds no
	// modules (the one module is --module).
	_, stderr, code := run(t, nil, harness.BrokerBin(), "--listen", "tcp://127.0.0.1:1", "--module", harness.SoftHSM)
	if code == 0 || !strings.Contains(stderr, "needs insecure_tcp") {
		t.Errorf("quick mode tcp:// without --insecure-tcp: exit %d, %s", code, stderr)
	}
	p := filepath.Join(dir, "q.toml")
	writeFile(t, p, fmt.Sprintf("listen = [\"unix://%s\"]\n[[module]]\nname = \"s\"\npath = %q\n", filepath.Join(dir, "s"), harness.SoftHSM))
	_, stderr, code = run(t, nil, harness.BrokerBin(), "--module", harness.SoftHSM, "--config", p)
	if code != 2 || !strings.Contains(stderr, "q.toml:2: module[0]: [[module]] is for config mode") {
		t.Errorf("--module with a config holding [[module]]: exit %d, %s", code, stderr)
	}
}

// TestPolicyReload: SIGHUP applies a changed policy to the next call of a
// connection that is already open, in both isolations.
func TestPolicyReload(t *testing.T) {
	for _, isolation := range []string{"process", "shared", "inprocess"} {
		t.Run(isolation, func(t *testing.T) {
			tok := tokenWithKeys(t)
			base := `listen = ["unix://%SOCK%"]` + "\n" + moduleAndTokens(tok, harness.SoftHSM, isolation, pinFile(t))
			policy := func(slots, mechs string) string {
				return fmt.Sprintf("\n[[client]]\nname = \"root\"\nuids = [%d]\nslots = %s\nmechanisms = %s\nobjects = [\"label:ca-*\"]\n", os.Geteuid(), slots, mechs)
			}
			b := startBroker(t, base+policy("[1, 2]", `["CKM_ECDSA"]`))
			c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Sock}, wire.ClientConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			slots := func() string {
				var r wire.GetSlotListResponse
				err := c.Call(wire.CallGetSlotList, &wire.GetSlotListRequest{TokenPresent: true}, &r)
				return fmt.Sprint(r.SlotList, err)
			}
			if got := slots(); got != "[1 2] <nil>" {
				t.Fatalf("slots %s", got)
			}
			var open wire.OpenSessionResponse
			if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 2, Flags: wire.CKF_SERIAL_SESSION}, &open); err != nil {
				t.Fatal(err)
			}
			var s1 wire.OpenSessionResponse
			if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 1, Flags: wire.CKF_SERIAL_SESSION}, &s1); err != nil {
				t.Fatal(err)
			}
			var found wire.FindObjectsResponse
			c.Call(wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s1.Session, Template: []wire.Attribute{}}, &wire.FindObjectsInitResponse{})
			c.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: s1.Session, MaxObjectCount: 10}, &found)
			c.Call(wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: s1.Session}, &wire.FindObjectsFinalResponse{})
			if len(found.Objects) != 1 { // the public half of ca-key: not logged in
				t.Fatalf("found %d objects, want ca-key's public key", len(found.Objects))
			}
			mechs := func() string {
				var r wire.GetMechanismListResponse
				err := c.Call(wire.CallGetMechanismList, &wire.GetMechanismListRequest{SlotID: 1}, &r)
				return fmt.Sprint(len(r.MechanismList), err)
			}
			if got := mechs(); got != "1 <nil>" {
				t.Fatalf("mechanisms %s", got)
			}
			verifyInit := func() error {
				return c.Call(wire.CallVerifyInit, &wire.VerifyInitRequest{Session: s1.Session, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: found.Objects[0]}, &wire.VerifyInitResponse{})
			}
			if err := verifyInit(); err != nil {
				t.Fatalf("C_VerifyInit before the reload: %v", err)
			}
			c.Call(wire.CallVerifyFinal, &wire.VerifyFinalRequest{Session: s1.Session, Signature: make([]byte, 64)}, &wire.VerifyFinalResponse{})

			b.Reload(base + policy("[1]", `["CKM_RSA_PKCS"]`))
			if got := slots(); got != "[1] <nil>" {
				t.Errorf("after the reload: slots %s, want [1]", got)
			}
			var si wire.GetSessionInfoResponse
			if err := c.Call(wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: open.Session}, &si); !errors.Is(err, wire.CKR_SESSION_HANDLE_INVALID) {
				t.Errorf("a session on a slot the policy no longer shows: %v, want CKR_SESSION_HANDLE_INVALID", err)
			}
			if err := verifyInit(); !errors.Is(err, wire.CKR_MECHANISM_INVALID) {
				t.Errorf("C_VerifyInit with a mechanism the policy no longer lists: %v, want CKR_MECHANISM_INVALID", err)
			}
			if !strings.Contains(b.Log(), `"call":"C_VerifyInit","slot":1,"rule":"mechanisms: CKM_ECDSA","rv":"CKR_MECHANISM_INVALID"`) {
				t.Error("the denial after the reload is not logged")
			}
			// The objects filter changes too: a relabelled filter hides ca-key.
			b.Reload(base + strings.Replace(policy("[1]", `["CKM_ECDSA"]`), "label:ca-*", "label:nothing-*", 1))
			if err := verifyInit(); !errors.Is(err, wire.CKR_OBJECT_HANDLE_INVALID) {
				t.Errorf("C_VerifyInit on a key the policy now hides: %v, want CKR_OBJECT_HANDLE_INVALID", err)
			}
		})
	}
}

// checkTLSLanes: calls over tls://addr go on lanes (one TLS connection
// per concurrent caller, joined by a preface naming the connection), and
// a lane with another certificate is refused even with the connection's
// own lane key.
func checkTLSLanes(t *testing.T, addr string, ca *harness.CA, good, other *harness.Cert) {
	t.Helper()
	goodTLS, err := wire.ClientTLS(ca.CertPath, good.CertPath, good.KeyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	lanes, err := wire.Dial(wire.Endpoint{Network: "tls", Address: addr}, wire.ClientConfig{TLS: goodTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer lanes.Close()
	if err := lanes.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{}); err != nil || !lanes.UsesLanes() || len(lanes.Welcome.Lane) == 0 {
		t.Errorf("a call over TLS: %v, lanes used: %v", err, lanes.UsesLanes())
	}
	otherTLS, _ := wire.ClientTLS(ca.CertPath, other.CertPath, other.KeyPath, "")
	otherTLS.ServerName = "127.0.0.1"
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write(append([]byte(wire.LanePreface), wire.LaneID(lanes.Welcome.Lane)...))
	stolen := tls.Client(raw, otherTLS)
	defer stolen.Close()
	wire.WriteMsg(stolen, &wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, Lane: lanes.Welcome.Lane})
	if _, err := wire.ReadWelcome(stolen); err == nil || !strings.Contains(err.Error(), "is not the connection's certificate") {
		t.Errorf("a lane with another certificate and the connection's key: %v, want it refused", err)
	}
}
