package harness

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
)

// TestCerts: what a CA issues verifies against it, for its purpose, and
// only against it; Expired and Serial do what they say.
func TestCerts(t *testing.T) {
	ca, other := NewCA(t, "ca"), NewCA(t, "other")
	client := func(c *Cert) *x509.Certificate {
		t.Helper()
		kp, err := tls.LoadX509KeyPair(c.CertPath, c.KeyPath)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(c.KeyPath); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("key %s: mode %v, want 0600", c.KeyPath, fi.Mode().Perm())
		}
		return kp.Leaf
	}
	verify := func(c *x509.Certificate, dns string, usage x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: dns, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	good := client(ca.Issue("app", CertOptions{DNS: []string{"app.example.org"}, Serial: 0x1234}))
	if err := verify(good, "app.example.org", x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if good.SerialNumber.Int64() != 0x1234 || good.Subject.CommonName != "app" {
		t.Errorf("serial %x, CN %q: want 1234 and app", good.SerialNumber, good.Subject.CommonName)
	}
	server := client(ca.ServerCert())
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if err := verify(server, name, x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	var invalid x509.CertificateInvalidError
	if err := verify(client(ca.Issue("old", CertOptions{Expired: true})), "", x509.ExtKeyUsageClientAuth); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("expired certificate: %v, want it expired", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := verify(client(other.Issue("app", CertOptions{})), "", x509.ExtKeyUsageClientAuth); !errors.As(err, &unknown) {
		t.Errorf("another CA's certificate: %v, want an unknown authority", err)
	}
}
