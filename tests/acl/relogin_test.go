package acl

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestBrokerLoginLost: with a shared in-process module, another client's
// C_Logout logs the token out under a client whose PIN the broker holds;
// that client's next call is made again after the broker logs in once
// more. Its own C_Logout, though, is final, as with the vendor module.
func TestBrokerLoginLost(t *testing.T) {
	tok := tokenWithKeys(t)
	ca := harness.NewCA(t, "client CA")
	server, other := ca.ServerCert(), ca.Issue("other.example.org", harness.CertOptions{DNS: []string{"other.example.org"}})
	addr := freePort(t)
	b := startBroker(t, fmt.Sprintf(`listen = ["unix://%%SOCK%%", "tls://%s"]
[tls]
cert = %q
key = %q
client_ca = %q
`, addr, server.CertPath, server.KeyPath, ca.CertPath)+moduleAndTokens(tok, "inprocess", pinFile(t))+fmt.Sprintf(`
[[client]]
name = "signer"
uids = [%d]
slots = [1]
login = "broker"

[[client]]
name = "other"
cert_names = ["other.example.org"]
`, os.Geteuid()))
	signer, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.sock}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer signer.Close()
	tc, err := wire.ClientTLS(ca.CertPath, other.CertPath, other.KeyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := wire.ParseEndpoint("tls://" + addr)
	otherC, err := wire.Dial(ep, wire.ClientConfig{TLS: tc, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer otherC.Close()

	open := func(c *wire.Client) uint64 {
		var r wire.OpenSessionResponse
		if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 1, Flags: wire.CKF_SERIAL_SESSION}, &r); err != nil {
			t.Fatal(err)
		}
		return r.Session
	}
	s := open(signer)
	if err := signer.Call(wire.CallLogin, &wire.LoginRequest{Session: s, UserType: wire.CKU_USER, Pin: wire.PIN("placeholder")}, &wire.LoginResponse{}); err != nil {
		t.Fatalf("C_Login with the broker's PIN: %v", err)
	}
	// A private session key needs a login (SoftHSM2 answers
	// CKR_USER_NOT_LOGGED_IN without one).
	genPrivate := func() error {
		var r wire.GenerateKeyResponse
		return signer.Call(wire.CallGenerateKey, &wire.GenerateKeyRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_AES_KEY_GEN},
			Template: []wire.Attribute{{Type: wire.CKA_TOKEN, Kind: wire.AttrBool}, {Type: wire.CKA_PRIVATE, Kind: wire.AttrBool, Bool: true},
				{Type: wire.CKA_VALUE_LEN, Kind: wire.AttrULong, ULong: 16}}}, &r)
	}
	if err := genPrivate(); err != nil {
		t.Fatalf("private key generation, logged in: %v", err)
	}
	// The other client logs the shared token out.
	os2 := open(otherC)
	if err := otherC.Call(wire.CallLogout, &wire.LogoutRequest{Session: os2}, &wire.LogoutResponse{}); err != nil {
		t.Fatalf("the other client's C_Logout: %v", err)
	}
	if err := genPrivate(); err != nil {
		t.Fatalf("private key generation after the token forgot the login: %v, want CKR_OK once the broker logged in again", err)
	}
	b.waitLog("broker login lost: logged in again", 5*time.Second)
	var si wire.GetSessionInfoResponse
	if err := signer.Call(wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: s}, &si); err != nil || si.Info.State != wire.CKS_RO_USER_FUNCTIONS {
		t.Errorf("session state %d (%v) after the broker's login, want CKS_RO_USER_FUNCTIONS", si.Info.State, err)
	}
	// The signer's own logout stays.
	if err := signer.Call(wire.CallLogout, &wire.LogoutRequest{Session: s}, &wire.LogoutResponse{}); err != nil {
		t.Fatal(err)
	}
	if err := genPrivate(); !errors.Is(err, wire.CKR_USER_NOT_LOGGED_IN) {
		t.Errorf("private key generation after its own C_Logout: %v, want CKR_USER_NOT_LOGGED_IN", err)
	}
	if n := strings.Count(b.log(), "broker login lost: logged in again"); n != 1 {
		t.Errorf("the broker logged in again %d times, want once", n)
	}
}
