package access

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// revokedSerial is the serial of the revoked client certificate;
// revoked_serials lists it as "1f:a0:03".
const revokedSerial = 0x1fa003

// tlsConfig: a unix socket and tls://127.0.0.1:port with mutual TLS, the
// broker holding the token's PIN, and one policy for the certificate name
// client.example.org. revoked lists more revoked serials.
func tlsConfig(sock, iso string, port int, tok *harness.Token, pin string, server *harness.Cert, ca *harness.CA, revoked string) string {
	return fmt.Sprintf(`listen = ["unix://%s", "tls://127.0.0.1:%d"]

[tls]
cert = %q
key = %q
client_ca = %q
revoked_serials = ["1f:a0:03"%s]
%s%s
[[client]]
name = "remote"
cert_names = ["client.example.org"]
slots = [1]
objects = ["label:ca-*"]
login = "broker"
`, sock, port, server.CertPath, server.KeyPath, ca.CertPath, revoked, softhsmModule(tok, iso), tokenTable("shared", 1, pin))
}

// TestMutualTLS: over tls://127.0.0.1, a client with a good certificate
// lists and signs with pkcs11-tool; clients without a certificate, with
// an expired one, one from another CA, a revoked one, one that no policy
// names, and a plaintext client are refused before any PKCS #11 call,
// each with a line in its own log and one in the broker's naming the peer
// and the reason.
func TestMutualTLS(t *testing.T) {
	for _, iso := range []string{"process", "handoff"} {
		t.Run(iso, func(t *testing.T) { mutualTLS(t, iso) })
	}
}

func mutualTLS(t *testing.T, iso string) {
	requireRoot(t)
	harness.Require(t, "pkcs11-tool")
	tok := newTokens(t)
	ca, otherCA := harness.NewCA(t, "gop11 access CA"), harness.NewCA(t, "another CA")
	dns := harness.CertOptions{DNS: []string{"client.example.org"}}
	good := ca.Issue("client.example.org", dns)
	port := harness.FreePort(t)
	pin, server := pinFile(t), ca.ServerCert()
	b := startBroker(t, func(sock string) string { return tlsConfig(sock, iso, port, tok, pin, server, ca, "") })
	endpoint := fmt.Sprintf("tls://127.0.0.1:%d", port)
	dir := t.TempDir()
	_, mod := clientBins(t)

	// clientEnv for a certificate: a client.toml naming the broker, the
	// CA and the certificate, and a log of its own.
	env := func(name string, c *harness.Cert) (env []string, logFile string) {
		conf := filepath.Join(dir, name+".toml")
		text := fmt.Sprintf("broker = %q\ndial_timeout = \"5s\"\n[tls]\nca = %q\ncert = %q\nkey = %q\n", endpoint, ca.CertPath, c.CertPath, c.KeyPath)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		logFile = filepath.Join(dir, name+".log")
		return []string{"GOP11_CONFIG=" + conf, "GOP11_LOG=" + logFile}, logFile
	}

	t.Run("good certificate", func(t *testing.T) {
		e, _ := env("good", good)
		r := p11tool(t, root, mod, e, "-L")
		if r.Code != 0 || slotsOf(r.Stdout) != "0x1" {
			t.Fatalf("pkcs11-tool -L: exit %d, slots %q, want 0x1\n%s", r.Code, slotsOf(r.Stdout), r.Stderr)
		}
		in, sig := filepath.Join(dir, "in"), filepath.Join(dir, "sig")
		if err := os.WriteFile(in, make([]byte, 32), 0o600); err != nil {
			t.Fatal(err)
		}
		r = p11tool(t, root, mod, e, "--sign", "--login", "--pin", wrongPIN, "--id", "01", "-m", "ECDSA", "--input-file", in, "--output-file", sig)
		if fi, err := os.Stat(sig); r.Code != 0 || err != nil || fi.Size() != 64 {
			t.Fatalf("pkcs11-tool --sign: exit %d, signature %v %v, want 64 bytes\n%s", r.Code, fi, err, r.Stderr)
		}
		want := fmt.Sprintf("cert=client.example.org serial=%x remote=127.0.0.1:", good.Serial)
		b.waitCount("client connected", func(e entry) bool {
			return strings.HasPrefix(e.str("identity"), want) && e.str("client") == "remote"
		}, 2, "two connections of the good certificate")
	})

	// Refused by the TLS handshake, or by the policies after it.
	refusals := func() int { return len(b.matching(refused, all)) }
	for _, tc := range []struct {
		name   string
		cert   *harness.Cert
		reason string // in the broker's line
	}{
		{"expired", ca.Issue("client.example.org", harness.CertOptions{DNS: dns.DNS, Expired: true}), "certificate has expired"},
		{"other CA", otherCA.Issue("client.example.org", dns), "certificate signed by unknown authority"},
		{"revoked", ca.Issue("client.example.org", harness.CertOptions{DNS: dns.DNS, Serial: revokedSerial}), "certificate serial 1fa003 is revoked"},
		{"no policy", ca.Issue("stranger.example.org", harness.CertOptions{DNS: []string{"stranger.example.org"}}), "no [[client]] matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Counted by reason: one pkcs11-tool run is refused twice
			// (the library connects again at its next call), and the
			// last run's second refusal may be logged after this starts.
			named := func(e entry) bool {
				return strings.Contains(e.String(), tc.reason) && strings.Contains(e.String(), "127.0.0.1:")
			}
			n := len(b.matching(refused, named))
			e, logFile := env(strings.ReplaceAll(tc.name, " ", "-"), tc.cert)
			r := p11tool(t, root, mod, e, "-L")
			if r.Code == 0 {
				t.Errorf("pkcs11-tool -L: exit 0, want a failure\n%s", r.Stdout)
			}
			if log, _ := os.ReadFile(logFile); !strings.Contains(string(log), "refused") {
				t.Errorf("the module's log does not say the broker refused it:\n%s", log)
			}
			b.waitCount(refused, named, n+1, "a refusal naming the peer and "+tc.reason)
		})
	}

	t.Run("no certificate", func(t *testing.T) {
		n := refusals()
		conn, err := tls.Dial("tcp", endpoint[len("tls://"):], &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS 1.3 handshake: %v", err)
		}
		defer conn.Close()
		// TLS 1.3: the server's verdict on the client comes with the
		// first read, after the client's side of the handshake.
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte("hello"))
		buf := make([]byte, 64)
		k, err := conn.Read(buf)
		var alert tls.AlertError
		if !errors.As(err, &alert) && !strings.Contains(fmt.Sprint(err), "certificate required") {
			t.Errorf("read after the handshake: %d bytes, %v; want the broker's alert", k, err)
		}
		line := b.waitCount(refused, all, n+1, "the refusal")[n]
		if line.str("remote") != conn.LocalAddr().String() || !strings.Contains(line.str("error"), "didn't provide a certificate") {
			t.Errorf("the broker's refusal does not name %s and the missing certificate: %s", conn.LocalAddr(), line)
		}
	})

	t.Run("plaintext", func(t *testing.T) {
		n := refusals()
		c, err := wire.Dial(wire.Endpoint{Network: "tcp", Address: endpoint[len("tls://"):]}, wire.ClientConfig{DialTimeout: 5 * time.Second, Program: "plaintext"})
		if err == nil {
			c.Close()
			t.Fatal("wire.Dial tcp:// to the TLS port: connected")
		}
		line := b.waitCount(refused, all, n+1, "the refusal")[n]
		if !strings.HasPrefix(line.str("remote"), "127.0.0.1:") || !strings.Contains(line.str("error"), "does not look like a TLS handshake") {
			t.Errorf("the broker's refusal does not name the peer and the reason: %s", line)
		}
	})

	t.Run("revoked by SIGHUP", func(t *testing.T) {
		b.reload(tlsConfig(b.sock, iso, port, tok, pin, server, ca, fmt.Sprintf(", %q", good.Serial.Text(16))))
		n := refusals()
		e, _ := env("good-revoked", good)
		if r := p11tool(t, root, mod, e, "-L"); r.Code == 0 {
			t.Errorf("pkcs11-tool -L with the certificate revoked since: exit 0, want a failure\n%s", r.Stdout)
		}
		line := b.waitCount(refused, all, n+1, "the refusal")[n]
		if want := fmt.Sprintf("certificate serial %x is revoked", good.Serial); !strings.Contains(line.str("error"), want) {
			t.Errorf("the broker's refusal lacks %q: %s", want, line)
		}
	})

	// None of the refused got as far as a PKCS #11 call, or a worker.
	for _, e := range b.entries("") {
		if e.str("call") != "" && strings.Contains(e.str("identity"), "cert=") && !strings.Contains(e.str("identity"), fmt.Sprintf("serial=%x ", good.Serial)) {
			t.Errorf("a call from a refused client: %s", e)
		}
		if strings.HasPrefix(e.msg(), "client connected") && !strings.Contains(e.str("identity"), fmt.Sprintf("serial=%x ", good.Serial)) {
			t.Errorf("a refused client was served: %s", e)
		}
	}
}

// refused starts the broker's line for a client it would not serve.
const refused = "client refused"

// all keeps every entry.
func all(entry) bool { return true }

// TestPlainTCPConfig: --check-config refuses a plaintext tcp:// listener
// anywhere but on loopback with insecure_tcp = true, and a tls://
// listener without [tls], with exit code 2 and a line naming the key.
func TestPlainTCPConfig(t *testing.T) {
	harness.RequireBuild(t)
	port := harness.FreePort(t)
	for _, tc := range []struct {
		name, listen, extra string
		code                int
		msg                 string
	}{
		{"tcp on any address", "tcp://0.0.0.0:%d", "", 2, "plaintext tcp:// is allowed only on a loopback address"},
		{"tcp on any address, insecure_tcp", "tcp://0.0.0.0:%d", "insecure_tcp = true\n", 2, "plaintext tcp:// is allowed only on a loopback address"},
		{"tcp on loopback", "tcp://127.0.0.1:%d", "", 2, "needs insecure_tcp = true"},
		{"tls without [tls]", "tls://0.0.0.0:%d", "", 2, "needs a [tls] section"},
		{"tcp on loopback, insecure_tcp", "tcp://127.0.0.1:%d", "insecure_tcp = true\n", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "broker.toml")
			text := fmt.Sprintf("listen = [%q]\n%s\n[[module]]\nname = \"softhsm\"\npath = %q\n", fmt.Sprintf(tc.listen, port), tc.extra, harness.SoftHSM)
			if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			r := harness.RunCmd(t, harness.Command{Name: harness.BrokerBin(), Args: []string{"--check-config", cfg}})
			out := r.Stdout + r.Stderr
			if r.Code != tc.code || !strings.Contains(out, tc.msg) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.Code, tc.code, tc.msg, out)
			}
			if tc.code != 0 && !strings.Contains(out, "listen[0]") {
				t.Errorf("the message does not name the key listen[0]:\n%s", out)
			}
		})
	}
}
