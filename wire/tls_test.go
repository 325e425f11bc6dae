package wire_test

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// tlsBroker is the broker's side of a tls:// listener, as small as it can
// be: TLS 1.3 requiring a client certificate that ca signed, then the
// Hello and a Welcome. It returns the endpoint.
func tlsBroker(t *testing.T, ca *harness.CA) wire.Endpoint {
	t.Helper()
	cfg := ca.ServerTLS(ca)
	return serve(t, func(conn net.Conn) {
		tc := tls.Server(conn, cfg)
		if tc.Handshake() != nil {
			return // the alert is sent; serve closes the connection
		}
		if _, err := wire.ReadHello(tc); err == nil {
			wire.WriteMsg(tc, &wire.Welcome{Version: wire.ProtocolVersion})
			tc.Read(make([]byte, 1)) // hold the connection until the client leaves
		}
	})
}

// serve accepts connections on 127.0.0.1 and runs handle on each, closing
// it afterwards, until the test ends.
func serve(t *testing.T, handle func(net.Conn)) wire.Endpoint {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				handle(conn)
			}()
		}
	}()
	return wire.Endpoint{Network: "tls", Address: l.Addr().String()}
}

// clientTLS loads c as the client's certificate, trusting ca for the broker.
func clientTLS(t *testing.T, ca *harness.CA, c *harness.Cert) *tls.Config {
	t.Helper()
	cfg, err := wire.ClientTLS(ca.CertPath, c.CertPath, c.KeyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// named is c's configuration with the broker's name set.
func named(t *testing.T, ca *harness.CA, c *harness.Cert, serverName string) *tls.Config {
	t.Helper()
	cfg := clientTLS(t, ca, c)
	cfg.ServerName = serverName
	return cfg
}

func TestTLSDial(t *testing.T) {
	ca, other := harness.NewCA(t, "ca"), harness.NewCA(t, "other-ca")
	ep := tlsBroker(t, ca)
	good := ca.Issue("app", harness.CertOptions{DNS: []string{"app.example.org"}})
	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		errHas string // "": connects
		refuse bool   // errors.Is(err, wire.ErrRefused)
	}{
		{"good client", clientTLS(t, ca, good), "", false},
		{"no client certificate", &tls.Config{RootCAs: ca.Pool()}, "remote error: tls: certificate required", true},
		{"client certificate of another CA", clientTLS(t, ca, other.Issue("app", harness.CertOptions{})), "remote error: tls: unknown certificate authority", true},
		{"expired client certificate", clientTLS(t, ca, ca.Issue("app", harness.CertOptions{Expired: true})), "remote error: tls: expired certificate", true},
		{"broker certificate of another CA", clientTLS(t, other, good), "certificate signed by unknown authority", false},
		{"no [tls]", nil, "tls:// needs [tls] ca, cert and key", false},
		{"server_name not the broker's", named(t, ca, good, "broker.example.org"), "not broker.example.org", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := wire.Dial(ep, wire.ClientConfig{DialTimeout: 5 * time.Second, TLS: tc.tls})
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), tc.errHas) || errors.Is(err, wire.ErrRefused) != tc.refuse {
				t.Errorf("error %q: want one containing %q, ErrRefused %v", err, tc.errHas, tc.refuse)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
}

// TestTLSDialNotTLS: a plaintext peer, or one that never answers, fails
// the client's own handshake, within the dial timeout.
func TestTLSDialNotTLS(t *testing.T) {
	ca := harness.NewCA(t, "ca")
	cfg := clientTLS(t, ca, ca.Issue("app", harness.CertOptions{}))
	plain := serve(t, func(conn net.Conn) { wire.ReadHello(conn) }) // a gop11 broker without TLS
	silent := serve(t, func(conn net.Conn) { conn.Read(make([]byte, 1<<16)); conn.Read(make([]byte, 1)) })
	for _, tc := range []struct {
		name   string
		ep     wire.Endpoint
		errHas string
	}{
		{"plaintext broker", plain, "is it a tls:// listener?"},
		{"silent peer", silent, "no answer within the dial timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := wire.Dial(tc.ep, wire.ClientConfig{DialTimeout: 500 * time.Millisecond, TLS: cfg})
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), tc.errHas) || errors.Is(err, wire.ErrRefused) {
				t.Errorf("error %q: want one containing %q, not ErrRefused", err, tc.errHas)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to fail", d)
			}
		})
	}
}

// TestTLSRefusedAfterHandshake: a broker that completes the TLS handshake
// and then closes the connection without a Welcome refused the client.
func TestTLSRefusedAfterHandshake(t *testing.T) {
	ca := harness.NewCA(t, "ca")
	cfg := ca.ServerTLS(nil)
	ep := serve(t, func(conn net.Conn) {
		tc := tls.Server(conn, cfg)
		if tc.Handshake() == nil {
			wire.ReadHello(tc)
		}
	})
	_, err := wire.Dial(ep, wire.ClientConfig{DialTimeout: 5 * time.Second, TLS: clientTLS(t, ca, ca.Issue("app", harness.CertOptions{}))})
	if !errors.Is(err, wire.ErrRefused) || !strings.Contains(err.Error(), "before its Welcome") {
		t.Fatalf("error %v: want ErrRefused, closed before the Welcome", err)
	}
}

func TestClientTLSFiles(t *testing.T) {
	ca := harness.NewCA(t, "ca")
	c := ca.Issue("app", harness.CertOptions{})
	for _, tc := range []struct {
		name                string
		ca, cert, key, want string
	}{
		{"missing ca", "/nonexistent/ca.crt", c.CertPath, c.KeyPath, "/nonexistent/ca.crt"},
		{"ca not PEM", c.KeyPath, c.CertPath, c.KeyPath, c.KeyPath + ": no PEM certificate"},
		{"missing key", ca.CertPath, c.CertPath, "/nonexistent/app.key", "/nonexistent/app.key"},
		{"key of another certificate", ca.CertPath, c.CertPath, ca.Issue("other", harness.CertOptions{}).KeyPath, c.CertPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := wire.ClientTLS(tc.ca, tc.cert, tc.key, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	cfg, err := wire.ClientTLS(ca.CertPath, c.CertPath, c.KeyPath, "broker.example.org")
	if err != nil || cfg.MinVersion != tls.VersionTLS13 || cfg.ServerName != "broker.example.org" {
		t.Fatalf("config %+v, %v: want TLS 1.3 and the server name", cfg, err)
	}
}

func TestParseTLSEndpoint(t *testing.T) {
	for _, tc := range []struct{ in, addr, errHas string }{
		{"tls://broker.example.org:7011", "broker.example.org:7011", ""},
		{"tls://[::1]:7011", "[::1]:7011", ""},
		{"tls://broker.example.org", "", "want tls://host:port"},
		{"tls://b:7011/path", "", "want tls://host:port"},
		{"https://b:7011", "", "scheme must be unix, tls or tcp"},
	} {
		ep, err := wire.ParseEndpoint(tc.in)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%q: %+v, %v: want an error containing %q", tc.in, ep, err, tc.errHas)
			}
			continue
		}
		if err != nil || ep != (wire.Endpoint{Network: "tls", Address: tc.addr}) || ep.String() != tc.in {
			t.Errorf("%q: got %+v (%s), %v", tc.in, ep, ep, err)
		}
	}
}
