package wire

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrRefused: the broker would not serve this client. Its TLS stack sent
// an alert (TLS 1.3 delivers a refused client certificate on the client's
// first read, after its own handshake has returned), it closed the
// connection after the TLS handshake without a Welcome, or its Welcome
// said why.
var ErrRefused = errors.New("broker refused the connection")

// ClientTLS loads a client's mutual TLS configuration from PEM files: the
// CA that signed the broker's certificate, and the client's own
// certificate and key. serverName, when set, is the name the broker's
// certificate must carry; when empty, Dial uses the endpoint's host.
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
		// ("unknown certificate authority") instead of "certificate
		// required".
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}, nil
}

// dialTLS connects to a tls:// endpoint and runs the TLS handshake, both
// before deadline.
func dialTLS(ep Endpoint, cfg ClientConfig, deadline time.Time) (net.Conn, error) {
	tc, err := clientTLS(ep, cfg)
	if err != nil {
		return nil, err
	}
	nc, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", ep.Address)
	if err != nil {
		return nil, err // no TCP connection
	}
	nc.SetDeadline(deadline)
	conn, err := handshakeTLS(ep, tls.Client(nc, tc))
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return conn, nil
}

// clientTLS is cfg's TLS configuration for ep: TLS 1.3 at least, and the
// endpoint's host as the name the broker's certificate must carry unless
// the config names one.
func clientTLS(ep Endpoint, cfg ClientConfig) (*tls.Config, error) {
	if cfg.TLS == nil {
		return nil, fmt.Errorf("%s: tls:// needs [tls] ca, cert and key in the client config", ep)
	}
	tc := cfg.TLS.Clone()
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS13)
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(ep.Address)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", ep, err)
		}
		tc.ServerName = host
	}
	return tc, nil
}

// handshakeTLS runs a client's TLS handshake, bounded by the deadline of
// the connection beneath, and says what a failure means; it closes conn
// when the handshake fails.
func handshakeTLS(ep Endpoint, conn *tls.Conn) (*tls.Conn, error) {
	err := conn.Handshake()
	var ne net.Error
	switch {
	case err == nil:
		return conn, nil
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		// What a plaintext gop11 listener does with a ClientHello.
		err = fmt.Errorf("tls handshake with %s: the peer closed the connection (is it a tls:// listener?): %w", ep.Address, err)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.EAGAIN) || errors.As(err, &ne) && ne.Timeout():
		err = fmt.Errorf("tls handshake with %s: no answer within the dial timeout: %w", ep.Address, err)
	default:
		if r := refusal(err, false); r != nil {
			err = r
		}
		err = fmt.Errorf("tls handshake with %s: %w", ep.Address, err)
	}
	conn.NetConn().Close()
	return nil, err
}

// refusal returns err, from the handshake with the broker, as ErrRefused
// when it is the broker saying no: an alert from its TLS stack, or, on a
// connection whose TLS handshake completed (afterTLS), the connection
// closed before the Welcome. Otherwise nil.
func refusal(err error, afterTLS bool) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return fmt.Errorf("%w: %v", ErrRefused, op)
	}
	if afterTLS && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return fmt.Errorf("%w: it closed the connection after the TLS handshake, before its Welcome (%v)", ErrRefused, err)
	}
	return nil
}
