package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for a test: ECDSA P-256, its
// certificate in CertPath (PEM).
type CA struct {
	CertPath string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	dir      string
	t        testing.TB
}

// Cert is a certificate and key a CA issued, as PEM files (the key mode
// 0600, as the broker requires of its own).
type Cert struct {
	CertPath, KeyPath string
	Serial            *big.Int
}

// CertOptions changes what Issue makes.
type CertOptions struct {
	DNS     []string // subjectAltName DNS names
	IPs     []net.IP // subjectAltName addresses
	Expired bool     // valid from two days ago to yesterday
	Serial  int64    // 0: a random serial
	Server  bool     // extended key usage serverAuth (else clientAuth)
}

// NewCA makes a CA called name in a temp dir of t.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{cert: cert, key: key, dir: t.TempDir(), t: t}
	ca.CertPath = ca.write(name+".crt", "CERTIFICATE", der, 0o644)
	return ca
}

// Issue makes a certificate for cn signed by the CA.
func (ca *CA) Issue(cn string, o CertOptions) *Cert {
	t := ca.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(o.Serial)
	if o.Serial == 0 {
		serial, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	}
	from, to := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if o.Expired {
		from, to = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	usage := x509.ExtKeyUsageClientAuth
	if o.Server {
		usage = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     o.DNS,
		IPAddresses:  o.IPs,
		NotBefore:    from,
		NotAfter:     to,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	base := cn + "-" + serial.Text(16)
	return &Cert{
		CertPath: ca.write(base+".crt", "CERTIFICATE", der, 0o644),
		KeyPath:  ca.write(base+".key", "EC PRIVATE KEY", kder, 0o600),
		Serial:   serial,
	}
}

// ServerCert issues the broker's certificate for 127.0.0.1 and localhost.
func (ca *CA) ServerCert() *Cert {
	return ca.Issue("localhost", CertOptions{DNS: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
}

// Pool is a pool holding the CA's certificate alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ServerTLS is a server configuration like a broker's tls:// listener's:
// TLS 1.3, a ServerCert of this CA, and a client certificate required and
// verified against clientCA (none asked for when clientCA is nil).
func (ca *CA) ServerTLS(clientCA *CA) *tls.Config {
	sc := ca.ServerCert()
	cert, err := tls.LoadX509KeyPair(sc.CertPath, sc.KeyPath)
	if err != nil {
		ca.t.Fatal(err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	if clientCA != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.Pool()
	}
	return cfg
}

func (ca *CA) write(name, typ string, der []byte, mode os.FileMode) string {
	p := filepath.Join(ca.dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		ca.t.Fatal(err)
	}
	return p
}
