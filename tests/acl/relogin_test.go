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

// TestBrokerLoginLost: the token forgets its login (the fault module logs
// it out after a signature, as a reset would) under a client whose PIN
// the broker holds; that client's next call is made again after the
// broker logs in once more. Its own C_Logout, though, is final, as with
// the vendor module. In every isolation: with a shared module the
// broker's record of the token's login must follow the token.
func TestBrokerLoginLost(t *testing.T) {
	for _, iso := range []string{"process", "shared", "inprocess"} {
		t.Run(iso, func(t *testing.T) { brokerLoginLost(t, iso) })
	}
}

func brokerLoginLost(t *testing.T, iso string) {
	tok := tokenWithKeys(t)
	cfg := moduleAndTokens(tok, harness.FaultModule(t), iso, pinFile(t))
	b := startBroker(t, `listen = ["unix://%SOCK%"]`+cfg+fmt.Sprintf(`
[[client]]
name = "signer"
uids = [%d]
slots = [1]
login = "broker"
`, os.Geteuid()))
	signer, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Sock}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer signer.Close()
	var r wire.OpenSessionResponse
	if err := signer.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 1, Flags: wire.CKF_SERIAL_SESSION}, &r); err != nil {
		t.Fatal(err)
	}
	s := r.Session
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
	// The token forgets the login after this signature.
	var found wire.FindObjectsResponse
	signer.Call(wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s, Template: []wire.Attribute{
		{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_PRIVATE_KEY}}}, &wire.FindObjectsInitResponse{})
	signer.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: s, MaxObjectCount: 1}, &found)
	signer.Call(wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: s}, &wire.FindObjectsFinalResponse{})
	if len(found.Objects) != 1 {
		t.Fatalf("private keys found: %v", found.Objects)
	}
	if err := signer.Call(wire.CallSignInit, &wire.SignInitRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: found.Objects[0]}, &wire.SignInitResponse{}); err != nil {
		t.Fatal(err)
	}
	if err := signer.Call(wire.CallSign, &wire.SignRequest{Session: s, Data: []byte(harness.FaultForget + ": 32 bytes of a hash")}, &wire.SignResponse{}); err != nil {
		t.Fatalf("C_Sign: %v", err)
	}
	if err := genPrivate(); err != nil {
		t.Fatalf("private key generation after the token forgot the login: %v, want CKR_OK once the broker logged in again", err)
	}
	b.WaitLog("broker login lost: logged in again", 5*time.Second)
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
	if n := strings.Count(b.Log(), "broker login lost: logged in again"); n != 1 {
		t.Errorf("the broker logged in again %d times, want once", n)
	}
}
