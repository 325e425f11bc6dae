package client

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestConnectTLS: Connect loads [tls] and dials with it. A broker that
// refuses the certificate is ErrUnreachable to callers (there is no
// connection), and its message is the broker's reason, not
// "unreachable"; [tls] files that do not load name the config file.
func TestConnectTLS(t *testing.T) {
	brokerCA, clientCA := harness.NewCA(t, "broker-ca"), harness.NewCA(t, "client-ca")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	srv := brokerCA.ServerTLS(clientCA)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			tls.Server(conn, srv).Handshake()
			conn.Close()
		}
	}()
	cert := brokerCA.Issue("app", harness.CertOptions{}) // not client_ca's
	for _, tc := range []struct {
		name   string
		tls    TLSConfig
		errHas string
		refuse bool
	}{
		{"refused", TLSConfig{CA: brokerCA.CertPath, Cert: cert.CertPath, Key: cert.KeyPath}, "broker refused the connection: remote error: tls: unknown certificate authority", true},
		{"missing key file", TLSConfig{CA: brokerCA.CertPath, Cert: cert.CertPath, Key: "/nonexistent/app.key"}, "[tls] of /etc/x/client.toml: tls cert", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Broker: "tls://" + l.Addr().String(), DialTimeout: 2 * time.Second, TLS: tc.tls, File: "/etc/x/client.toml"}
			err := New(cfg, io.Discard).Connect()
			if !errors.Is(err, ErrUnreachable) || errors.Is(err, wire.ErrRefused) != tc.refuse || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %v: want ErrUnreachable containing %q, ErrRefused %v", err, tc.errHas, tc.refuse)
			}
			if tc.refuse && strings.Contains(err.Error(), "unreachable") {
				t.Errorf("error %q says unreachable", err)
			}
		})
	}
}
