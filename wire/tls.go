package wire

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ErrRefused: the broker would not serve this client: its TLS handshake
// refused the client's certificate (an alert, which TLS 1.3 delivers on
// the client's first read), or its Welcome said why.
var ErrRefused = errors.New("broker refused the connection")

// ClientTLS loads a client's mutual TLS configuration: the CA that signed
// the broker's certificate, and the client's own certificate and key (PEM
// files). serverName, when set, is the name the broker's certificate must
// carry; otherwise Dial uses the endpoint's host.
func ClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls ca %s: no PEM certificate in it", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls cert %s, key %s: %v", certFile, keyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: serverName,
		// Always present the certificate, even when the broker asks for
		// another CA's: its refusal then names the real problem
		// ("unknown authority") instead of "no certificate".
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}, nil
}

// dialTLS connects to a tls:// endpoint and runs the TLS handshake, all
// within the dial timeout.
func dialTLS(ep Endpoint, cfg ClientConfig) (net.Conn, error) {
	if cfg.TLS == nil {
		return nil, fmt.Errorf("%s: tls:// needs [tls] ca, cert and key in the client config", ep)
	}
	conn, err := net.DialTimeout("tcp", ep.Address, cfg.DialTimeout)
	if err != nil {
		return nil, err
	}
	tc := cfg.TLS.Clone()
	tc.MinVersion = tls.VersionTLS13
	if tc.ServerName == "" {
		if host, _, err := net.SplitHostPort(ep.Address); err == nil {
			tc.ServerName = host
		}
	}
	c := tls.Client(conn, tc)
	c.SetDeadline(time.Now().Add(cfg.DialTimeout))
	if err := c.Handshake(); err != nil {
		conn.Close()
		return nil, refusal(fmt.Errorf("tls handshake: %w", err))
	}
	return c, nil
}

// refusal marks an alert from the broker's TLS stack as ErrRefused.
func refusal(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return err
}
