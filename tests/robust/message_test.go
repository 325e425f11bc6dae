package robust

import (
	"errors"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// A hand-made C_EncryptMessage whose GCM parameter claims a 128-bit tag
// but carries a one-byte tag buffer: the vendor writes 16 bytes of tag,
// so the worker must give it room for 16, and it answers the whole tag.
// An absurd tag length is refused before the vendor sees it. The module
// is tests/pkcs11v3's msgmod, a v3.0 module over SoftHSM2.
func TestShortTagBuffer(t *testing.T) {
	mod := harness.CompileC(t, "tests/pkcs11v3/msgmod.c", "libmsgmod.so", "-shared", "-fPIC")
	tok := harness.NewToken(t, "robust", "1234", "123456")
	b := harness.StartBroker(t, tok, "--module", mod)
	c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Socket}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := openSession(t, c, 0)
	login(t, c, s, "1234")
	var key wire.CreateObjectResponse
	if err := c.Call(wire.CallCreateObject, &wire.CreateObjectRequest{Session: s, Template: []wire.Attribute{
		{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_SECRET_KEY},
		{Type: wire.CKA_KEY_TYPE, Kind: wire.AttrULong, ULong: wire.CKK_AES},
		{Type: wire.CKA_VALUE, Kind: wire.AttrBytes, Bytes: make([]byte, 32)},
		{Type: wire.CKA_ENCRYPT, Kind: wire.AttrBool, Bool: true},
		{Type: wire.CKA_TOKEN, Kind: wire.AttrBool},
	}}, &key); err != nil {
		t.Fatalf("C_CreateObject: %v", err)
	}
	if err := c.Call(wire.CallMessageEncryptInit, &wire.MessageEncryptInitRequest{Session: s,
		Mechanism: wire.Mechanism{Type: wire.CKM_AES_GCM}, Key: key.Object}, &wire.MessageEncryptInitResponse{}); err != nil {
		t.Fatalf("C_MessageEncryptInit: %v", err)
	}
	encrypt := func(tagBits uint64) (*wire.EncryptMessageResponse, error) {
		var resp wire.EncryptMessageResponse
		err := c.Call(wire.CallEncryptMessage, &wire.EncryptMessageRequest{Session: s,
			Parameter:     wire.Mechanism{Type: wire.CKM_AES_GCM, Param: &wire.GCMMessageParams{IV: make([]byte, 12), Tag: []byte{0}, TagBits: tagBits}},
			Plaintext:     make([]byte, 32),
			CiphertextBuf: wire.OutBuf{Want: wire.OutBuffer, Cap: 64}}, &resp)
		return &resp, err
	}
	resp, err := encrypt(128)
	if err != nil {
		t.Fatalf("C_EncryptMessage with a one-byte tag buffer: %v", err)
	}
	if p, ok := resp.Parameter.Param.(*wire.GCMMessageParams); !ok || len(p.Tag) != 16 || len(resp.Ciphertext.Data) != 32 {
		t.Errorf("answer %+v, want 32 bytes and a 16-byte tag", resp)
	}
	if _, err := encrypt(1 << 40); !errors.Is(err, wire.CKR_MECHANISM_PARAM_INVALID) {
		t.Errorf("a 2^40-bit tag: %v, want CKR_MECHANISM_PARAM_INVALID", err)
	}
	// The worker is still there for its client.
	if err := c.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{}); err != nil {
		t.Errorf("C_GetInfo after: %v", err)
	}
}
