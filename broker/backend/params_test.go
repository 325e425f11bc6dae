//go:build cgo

package backend

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/gop11/gop11/wire"
)

// TestMechanismParamLayout builds every parameter kind in its C layout and
// reads it back through its pointers: this covers the kinds SoftHSM2
// cannot run (CCM, the _GENERAL MACs) and the checks that refuse a
// parameter before the module sees it.
func TestMechanismParamLayout(t *testing.T) {
	iv16 := bytes.Repeat([]byte{0xa5}, 16)
	tests := []struct {
		name    string
		mech    wire.Mechanism
		size    int   // bytes of the C struct on LP64; 0: not checked
		wantErr error // from mechParam
	}{
		{"none", wire.Mechanism{Type: wire.CKM_SHA256}, 0, nil},
		{"bytes", wire.Mechanism{Type: wire.CKM_AES_CBC, Param: wire.BytesParam(iv16)}, 16, nil},
		{"ulong", wire.Mechanism{Type: wire.CKM_SHA256_HMAC_GENERAL, Param: wire.ULongParam(16)}, 8, nil},
		{"PSS", wire.Mechanism{Type: wire.CKM_RSA_PKCS_PSS, Param: &wire.PSSParams{Hash: wire.CKM_SHA384, MGF: wire.CKG_MGF1_SHA384, SaltLen: 48}}, 24, nil},
		{"OAEP", wire.Mechanism{Type: wire.CKM_RSA_PKCS_OAEP, Param: &wire.OAEPParams{Hash: wire.CKM_SHA256, MGF: wire.CKG_MGF1_SHA256,
			Source: wire.CKZ_DATA_SPECIFIED, SourceData: []byte("label")}}, 40, nil},
		{"OAEP no label", wire.Mechanism{Type: wire.CKM_RSA_PKCS_OAEP, Param: &wire.OAEPParams{Hash: wire.CKM_SHA_1, MGF: wire.CKG_MGF1_SHA1,
			Source: wire.CKZ_DATA_SPECIFIED}}, 40, nil},
		{"GCM", wire.Mechanism{Type: wire.CKM_AES_GCM, Param: &wire.GCMParams{IV: iv16[:12], IVBits: 96, AAD: []byte("aad"), TagBits: 128}}, 48, nil},
		{"CCM", wire.Mechanism{Type: wire.CKM_AES_CCM, Param: &wire.CCMParams{DataLen: 100, Nonce: iv16[:13], AAD: []byte("aad"), MACLen: 16}}, 48, nil},
		{"ECDH1", wire.Mechanism{Type: wire.CKM_ECDH1_DERIVE, Param: &wire.ECDH1DeriveParams{KDF: wire.CKD_SHA256_KDF,
			SharedData: []byte("shared"), PublicData: bytes.Repeat([]byte{4}, 65)}}, 40, nil},
		{"AES_CTR", wire.Mechanism{Type: wire.CKM_AES_CTR, Param: &wire.AESCTRParams{CounterBits: 32, CB: iv16}}, 24, nil},
		{"KEY_DERIVATION_STRING_DATA", wire.Mechanism{Type: wire.CKM_AES_ECB_ENCRYPT_DATA, Param: &wire.KeyDerivationStringData{Data: iv16}}, 16, nil},
		{"AES_CBC_ENCRYPT_DATA", wire.Mechanism{Type: wire.CKM_AES_CBC_ENCRYPT_DATA, Param: &wire.AESCBCEncryptDataParams{IV: iv16, Data: []byte("0123456789abcdef")}}, 32, nil},

		{"CTR block of 15", wire.Mechanism{Type: wire.CKM_AES_CTR, Param: &wire.AESCTRParams{CounterBits: 32, CB: iv16[:15]}}, 0, wire.CKR_MECHANISM_PARAM_INVALID},
		{"CTR block of 17", wire.Mechanism{Type: wire.CKM_AES_CTR, Param: &wire.AESCTRParams{CounterBits: 32, CB: append(iv16, 0)}}, 0, wire.CKR_MECHANISM_PARAM_INVALID},
		{"CBC-encrypt-data IV of 8", wire.Mechanism{Type: wire.CKM_AES_CBC_ENCRYPT_DATA, Param: &wire.AESCBCEncryptDataParams{IV: iv16[:8]}}, 0, wire.CKR_MECHANISM_PARAM_INVALID},
		{"GCM given bytes", wire.Mechanism{Type: wire.CKM_AES_GCM, Param: wire.BytesParam(iv16)}, 0, wire.CKR_MECHANISM_PARAM_INVALID},
		{"PSS given GCM", wire.Mechanism{Type: wire.CKM_RSA_PKCS_PSS, Param: &wire.GCMParams{}}, 0, wire.CKR_MECHANISM_PARAM_INVALID},
		{"nil PSS pointer", wire.Mechanism{Type: wire.CKM_RSA_PKCS_PSS, Param: (*wire.PSSParams)(nil)}, 0, wire.CKR_MECHANISM_PARAM_INVALID},
		{"vendor mechanism, bytes", wire.Mechanism{Type: wire.CKM_VENDOR_DEFINED | 5, Param: wire.BytesParam{1, 2}}, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a arena
			defer a.free()
			b, err := mechParam(&a, tc.mech)
			if err != tc.wantErr {
				t.Fatalf("mechParam = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if tc.mech.Param == nil {
				if b != nil {
					t.Fatalf("no parameter gave %x", b)
				}
				return
			}
			if sizeofULong == 8 && tc.size != 0 && len(b) != tc.size {
				t.Errorf("C struct is %d bytes, want %d", len(b), tc.size)
			}
			back, err := paramBack(tc.mech.Param.Kind(), b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.mech.Param) {
				t.Fatalf("read back %#v, want %#v", back, tc.mech.Param)
			}
			// The direct-call and miekg forms carry the same values.
			cm, err := cMechanism(&a, tc.mech)
			if err != nil || cm == nil {
				t.Fatalf("cMechanism: %v", err)
			}
			mm, err := miekgMechanism(&a, tc.mech)
			if err != nil || len(mm) != 1 || mm[0].Mechanism != uint(tc.mech.Type) {
				t.Fatalf("miekgMechanism = %+v, %v", mm, err)
			}
			if back, err := paramBack(tc.mech.Param.Kind(), mm[0].Parameter); err != nil || !reflect.DeepEqual(back, tc.mech.Param) {
				t.Fatalf("miekg's parameter reads back as %#v, %v", back, err)
			}
		})
	}
}
