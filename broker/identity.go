package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/config"
)

// ServerTLS builds the listeners' TLS configuration from [tls]: TLS 1.3,
// mutual, client certificates chained to client_ca and not revoked.
func ServerTLS(c *config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("[tls] cert %s, key %s: %v", c.Cert, c.Key, err)
	}
	pem, err := os.ReadFile(c.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("[tls] client_ca %s: %v", c.ClientCA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("[tls] client_ca %s: no PEM certificate in it", c.ClientCA)
	}
	revoked := c.RevokedSerials
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			leaf := chains[0][0]
			for _, r := range revoked {
				if leaf.SerialNumber.Cmp(r) == 0 {
					return fmt.Errorf("certificate serial %s is revoked ([tls] revoked_serials)", serialHex(leaf))
				}
			}
			return nil
		},
	}, nil
}

func serialHex(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }

// errTLSRefused: the peer did not complete a mutual TLS handshake.
var errTLSRefused = errors.New("TLS handshake refused")

// tlsIdentity runs the server side of the TLS handshake (bounded by the
// connection's deadline) and returns who the verified certificate names.
func tlsIdentity(conn net.Conn, cfg *tls.Config) (*tls.Conn, acl.Identity, error) {
	id := acl.Identity{UID: -1, GID: -1, Remote: conn.RemoteAddr().String()}
	tc := tls.Server(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, id, fmt.Errorf("%w: %v", errTLSRefused, err)
	}
	leaf := tc.ConnectionState().PeerCertificates[0]
	id.CertNames = append(id.CertNames, leaf.DNSNames...)
	if cn := strings.TrimSpace(leaf.Subject.CommonName); cn != "" && !slices.Contains(id.CertNames, cn) {
		id.CertNames = append(id.CertNames, cn)
	}
	id.Serial = serialHex(leaf)
	return tc, id, nil
}

// unixIdentity is a unix socket peer's credentials (SO_PEERCRED).
func unixIdentity(conn net.Conn) acl.Identity {
	id := acl.Identity{UID: -1, GID: -1, Remote: conn.RemoteAddr().String()}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return id
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return id
	}
	rc.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			id.Unix, id.UID, id.GID, id.PID = true, int(cred.Uid), int(cred.Gid), int(cred.Pid)
		}
	})
	return id
}
