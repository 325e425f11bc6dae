//go:build cgo

package backend

// One method per wire.Backend call: wire request → miekg arguments → call
// → wire response. Calls miekg cannot make right go to cmod.go.

import (
	"bytes"
	"context"

	"github.com/miekg/pkcs11"

	"github.com/gop11/gop11/wire"
)

func sh(v uint64) pkcs11.SessionHandle { return pkcs11.SessionHandle(v) }
func oh(v uint64) pkcs11.ObjectHandle  { return pkcs11.ObjectHandle(v) }

// do runs f as one call: enter (closed check, serialization), then f, then
// convert its error. A panic in miekg's conversions becomes
// CKR_GENERAL_ERROR instead of taking the broker down; running out of C
// memory (a module asking for an absurd buffer) CKR_HOST_MEMORY.
func do[R any](m *Module, name string, f func() (*R, error)) (resp *R, err error) {
	done, err := m.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	defer func() {
		if p := recover(); p != nil {
			if p == errCMemory {
				resp, err = nil, wire.CKR_HOST_MEMORY
				return
			}
			m.log.Error().Str("func", name).Interface("panic", p).Msg("backend call panicked")
			resp, err = nil, wire.CKR_GENERAL_ERROR
		}
	}()
	r, err := f()
	if err != nil {
		return nil, toErr(err)
	}
	return r, nil
}

// maxRandom bounds C_GenerateRandom: the answer must fit in one frame.
const maxRandom = wire.DefaultMaxFrame - 1024

func ver(v pkcs11.Version) wire.Version { return wire.Version{Major: v.Major, Minor: v.Minor} }

// ulong64 widens a CK_ULONG, keeping CK_UNAVAILABLE_INFORMATION and
// CK_EFFECTIVELY_INFINITE as the wire's 64-bit values.
func ulong64(v uint) uint64 {
	if sizeofULong == 4 && v == 0xFFFFFFFF {
		return wire.CK_UNAVAILABLE_INFORMATION
	}
	return uint64(v)
}

func u64s(l []uint) []uint64 {
	out := make([]uint64, len(l))
	for i, v := range l {
		out[i] = uint64(v)
	}
	return out
}

// GetInfo is C_GetInfo.
func (m *Module) GetInfo(_ context.Context, r *wire.GetInfoRequest) (*wire.GetInfoResponse, error) {
	return do(m, "C_GetInfo", func() (*wire.GetInfoResponse, error) {
		if r.V3 && m.c.fl3 != nil {
			i, err := m.c.info3()
			return &wire.GetInfoResponse{Info: i}, err
		}
		i, err := m.ctx.GetInfo()
		if err != nil {
			return nil, err
		}
		return &wire.GetInfoResponse{Info: wire.Info{
			CryptokiVersion:    ver(i.CryptokiVersion),
			ManufacturerID:     i.ManufacturerID,
			Flags:              uint64(i.Flags),
			LibraryDescription: i.LibraryDescription,
			LibraryVersion:     ver(i.LibraryVersion),
		}}, nil
	})
}

// GetSlotList is C_GetSlotList.
func (m *Module) GetSlotList(_ context.Context, r *wire.GetSlotListRequest) (*wire.GetSlotListResponse, error) {
	return do(m, "C_GetSlotList", func() (*wire.GetSlotListResponse, error) {
		l, err := m.ctx.GetSlotList(r.TokenPresent)
		if err != nil {
			return nil, err
		}
		return &wire.GetSlotListResponse{SlotList: u64s(l)}, nil
	})
}

// GetSlotInfo is C_GetSlotInfo.
func (m *Module) GetSlotInfo(_ context.Context, r *wire.GetSlotInfoRequest) (*wire.GetSlotInfoResponse, error) {
	return do(m, "C_GetSlotInfo", func() (*wire.GetSlotInfoResponse, error) {
		i, err := m.ctx.GetSlotInfo(uint(r.SlotID))
		if err != nil {
			return nil, err
		}
		return &wire.GetSlotInfoResponse{Info: wire.SlotInfo{
			SlotDescription: i.SlotDescription,
			ManufacturerID:  i.ManufacturerID,
			Flags:           uint64(i.Flags),
			HardwareVersion: ver(i.HardwareVersion),
			FirmwareVersion: ver(i.FirmwareVersion),
		}}, nil
	})
}

// GetTokenInfo is C_GetTokenInfo.
func (m *Module) GetTokenInfo(_ context.Context, r *wire.GetTokenInfoRequest) (*wire.GetTokenInfoResponse, error) {
	return do(m, "C_GetTokenInfo", func() (*wire.GetTokenInfoResponse, error) {
		i, err := m.ctx.GetTokenInfo(uint(r.SlotID))
		if err != nil {
			return nil, err
		}
		return &wire.GetTokenInfoResponse{Info: wire.TokenInfo{
			Label:              i.Label,
			ManufacturerID:     i.ManufacturerID,
			Model:              i.Model,
			SerialNumber:       i.SerialNumber,
			Flags:              uint64(i.Flags),
			MaxSessionCount:    ulong64(i.MaxSessionCount),
			SessionCount:       ulong64(i.SessionCount),
			MaxRwSessionCount:  ulong64(i.MaxRwSessionCount),
			RwSessionCount:     ulong64(i.RwSessionCount),
			MaxPinLen:          ulong64(i.MaxPinLen),
			MinPinLen:          ulong64(i.MinPinLen),
			TotalPublicMemory:  ulong64(i.TotalPublicMemory),
			FreePublicMemory:   ulong64(i.FreePublicMemory),
			TotalPrivateMemory: ulong64(i.TotalPrivateMemory),
			FreePrivateMemory:  ulong64(i.FreePrivateMemory),
			HardwareVersion:    ver(i.HardwareVersion),
			FirmwareVersion:    ver(i.FirmwareVersion),
			UTCTime:            i.UTCTime,
		}}, nil
	})
}

// GetMechanismList is C_GetMechanismList.
func (m *Module) GetMechanismList(_ context.Context, r *wire.GetMechanismListRequest) (*wire.GetMechanismListResponse, error) {
	return do(m, "C_GetMechanismList", func() (*wire.GetMechanismListResponse, error) {
		l, err := m.ctx.GetMechanismList(uint(r.SlotID))
		if err != nil {
			return nil, err
		}
		out := make([]uint64, len(l))
		for i, mm := range l {
			out[i] = uint64(mm.Mechanism)
		}
		return &wire.GetMechanismListResponse{MechanismList: out}, nil
	})
}

// GetMechanismInfo is C_GetMechanismInfo.
func (m *Module) GetMechanismInfo(_ context.Context, r *wire.GetMechanismInfoRequest) (*wire.GetMechanismInfoResponse, error) {
	return do(m, "C_GetMechanismInfo", func() (*wire.GetMechanismInfoResponse, error) {
		if r.V3 && m.c.fl3 != nil {
			i, err := m.c.mechanismInfo3(r.SlotID, r.MechType)
			return &wire.GetMechanismInfoResponse{Info: i}, err
		}
		i, err := m.ctx.GetMechanismInfo(uint(r.SlotID), []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(r.MechType), nil)})
		if err != nil {
			return nil, err
		}
		return &wire.GetMechanismInfoResponse{Info: wire.MechanismInfo{
			MinKeySize: uint64(i.MinKeySize), MaxKeySize: uint64(i.MaxKeySize), Flags: uint64(i.Flags)}}, nil
	})
}

// InitToken is C_InitToken.
func (m *Module) InitToken(_ context.Context, r *wire.InitTokenRequest) (*wire.InitTokenResponse, error) {
	return do(m, "C_InitToken", func() (*wire.InitTokenResponse, error) {
		// CK_TOKEN_INFO.label: 32 bytes, blank padded.
		label := [32]byte(bytes.Repeat([]byte{' '}, 32))
		copy(label[:], r.Label)
		// Not miekg's (see Login).
		return &wire.InitTokenResponse{}, m.c.initToken(r.SlotID, r.Pin, label)
	})
}

// InitPIN is C_InitPIN.
func (m *Module) InitPIN(_ context.Context, r *wire.InitPINRequest) (*wire.InitPINResponse, error) {
	return do(m, "C_InitPIN", func() (*wire.InitPINResponse, error) {
		return &wire.InitPINResponse{}, m.c.initPIN(r.Session, r.Pin) // not miekg's (see Login)
	})
}

// SetPIN is C_SetPIN.
func (m *Module) SetPIN(_ context.Context, r *wire.SetPINRequest) (*wire.SetPINResponse, error) {
	return do(m, "C_SetPIN", func() (*wire.SetPINResponse, error) {
		return &wire.SetPINResponse{}, m.c.setPIN(r.Session, r.OldPin, r.NewPin) // not miekg's (see Login)
	})
}

// OpenSession is C_OpenSession.
func (m *Module) OpenSession(_ context.Context, r *wire.OpenSessionRequest) (*wire.OpenSessionResponse, error) {
	return do(m, "C_OpenSession", func() (*wire.OpenSessionResponse, error) {
		s, err := m.ctx.OpenSession(uint(r.SlotID), uint(r.Flags))
		if err != nil {
			return nil, err
		}
		return &wire.OpenSessionResponse{Session: uint64(s)}, nil
	})
}

// CloseSession is C_CloseSession.
func (m *Module) CloseSession(_ context.Context, r *wire.CloseSessionRequest) (*wire.CloseSessionResponse, error) {
	return do(m, "C_CloseSession", func() (*wire.CloseSessionResponse, error) {
		return &wire.CloseSessionResponse{}, m.ctx.CloseSession(sh(r.Session))
	})
}

// CloseAllSessions is C_CloseAllSessions.
func (m *Module) CloseAllSessions(_ context.Context, r *wire.CloseAllSessionsRequest) (*wire.CloseAllSessionsResponse, error) {
	return do(m, "C_CloseAllSessions", func() (*wire.CloseAllSessionsResponse, error) {
		return &wire.CloseAllSessionsResponse{}, m.ctx.CloseAllSessions(uint(r.SlotID))
	})
}

// GetSessionInfo is C_GetSessionInfo.
func (m *Module) GetSessionInfo(_ context.Context, r *wire.GetSessionInfoRequest) (*wire.GetSessionInfoResponse, error) {
	return do(m, "C_GetSessionInfo", func() (*wire.GetSessionInfoResponse, error) {
		i, err := m.ctx.GetSessionInfo(sh(r.Session))
		if err != nil {
			return nil, err
		}
		return &wire.GetSessionInfoResponse{Info: wire.SessionInfo{
			SlotID: uint64(i.SlotID), State: uint64(i.State), Flags: uint64(i.Flags), DeviceError: uint64(i.DeviceError)}}, nil
	})
}

// GetOperationState is C_GetOperationState: both calls made here, the size query's answer kept.
func (m *Module) GetOperationState(_ context.Context, r *wire.GetOperationStateRequest) (*wire.GetOperationStateResponse, error) {
	return do(m, "C_GetOperationState", func() (*wire.GetOperationStateResponse, error) {
		b, hint, err := m.c.twoCall(fnOperationState, r.Session, nil)
		if err != nil {
			return nil, err
		}
		return &wire.GetOperationStateResponse{OperationState: b, SizeHint: hint}, nil
	})
}

// SetOperationState is C_SetOperationState.
func (m *Module) SetOperationState(_ context.Context, r *wire.SetOperationStateRequest) (*wire.SetOperationStateResponse, error) {
	return do(m, "C_SetOperationState", func() (*wire.SetOperationStateResponse, error) {
		if len(r.OperationState) == 0 {
			return &wire.SetOperationStateResponse{}, m.c.setOperationStateEmpty(r.Session, r.EncryptionKey, r.AuthenticationKey)
		}
		return &wire.SetOperationStateResponse{}, m.ctx.SetOperationState(sh(r.Session), r.OperationState, oh(r.EncryptionKey), oh(r.AuthenticationKey))
	})
}

// Login is C_Login.
func (m *Module) Login(_ context.Context, r *wire.LoginRequest) (*wire.LoginResponse, error) {
	return do(m, "C_Login", func() (*wire.LoginResponse, error) {
		// Not miekg's: it passes NULL for any empty PIN (nil must be NULL,
		// empty must not), and takes the PIN as a string, a copy nobody
		// can clear.
		return &wire.LoginResponse{}, m.c.login(r.Session, r.UserType, r.Pin)
	})
}

// Logout is C_Logout.
func (m *Module) Logout(_ context.Context, r *wire.LogoutRequest) (*wire.LogoutResponse, error) {
	return do(m, "C_Logout", func() (*wire.LogoutResponse, error) {
		return &wire.LogoutResponse{}, m.ctx.Logout(sh(r.Session))
	})
}

// CreateObject is C_CreateObject.
func (m *Module) CreateObject(_ context.Context, r *wire.CreateObjectRequest) (*wire.CreateObjectResponse, error) {
	return do(m, "C_CreateObject", func() (*wire.CreateObjectResponse, error) {
		if r.Template != nil && len(r.Template) == 0 {
			o, err := m.c.createObjectEmpty(r.Session)
			return &wire.CreateObjectResponse{Object: o}, err
		}
		var a arena
		defer a.free()
		t, err := miekgTemplate(&a, r.Template)
		if err != nil {
			return nil, err
		}
		o, err := m.ctx.CreateObject(sh(r.Session), t)
		return &wire.CreateObjectResponse{Object: uint64(o)}, err
	})
}

// CopyObject is C_CopyObject.
func (m *Module) CopyObject(_ context.Context, r *wire.CopyObjectRequest) (*wire.CopyObjectResponse, error) {
	return do(m, "C_CopyObject", func() (*wire.CopyObjectResponse, error) {
		if r.Template != nil && len(r.Template) == 0 {
			o, err := m.c.copyObjectEmpty(r.Session, r.Object)
			return &wire.CopyObjectResponse{NewObject: o}, err
		}
		var a arena
		defer a.free()
		t, err := miekgTemplate(&a, r.Template)
		if err != nil {
			return nil, err
		}
		o, err := m.ctx.CopyObject(sh(r.Session), oh(r.Object), t)
		return &wire.CopyObjectResponse{NewObject: uint64(o)}, err
	})
}

// DestroyObject is C_DestroyObject.
func (m *Module) DestroyObject(_ context.Context, r *wire.DestroyObjectRequest) (*wire.DestroyObjectResponse, error) {
	return do(m, "C_DestroyObject", func() (*wire.DestroyObjectResponse, error) {
		return &wire.DestroyObjectResponse{}, m.ctx.DestroyObject(sh(r.Session), oh(r.Object))
	})
}

// GetObjectSize is C_GetObjectSize.
func (m *Module) GetObjectSize(_ context.Context, r *wire.GetObjectSizeRequest) (*wire.GetObjectSizeResponse, error) {
	return do(m, "C_GetObjectSize", func() (*wire.GetObjectSizeResponse, error) {
		n, err := m.ctx.GetObjectSize(sh(r.Session), oh(r.Object))
		return &wire.GetObjectSizeResponse{Size: ulong64(n)}, err
	})
}

// GetAttributeValue is C_GetAttributeValue.
func (m *Module) GetAttributeValue(_ context.Context, r *wire.GetAttributeValueRequest) (*wire.GetAttributeValueResponse, error) {
	return do(m, "C_GetAttributeValue", func() (*wire.GetAttributeValueResponse, error) {
		v, err := m.getAttributeValue(r.Session, r.Object, r.Types)
		return &wire.GetAttributeValueResponse{Values: v}, err
	})
}

// SetAttributeValue is C_SetAttributeValue.
func (m *Module) SetAttributeValue(_ context.Context, r *wire.SetAttributeValueRequest) (*wire.SetAttributeValueResponse, error) {
	return do(m, "C_SetAttributeValue", func() (*wire.SetAttributeValueResponse, error) {
		if r.Template != nil && len(r.Template) == 0 {
			return &wire.SetAttributeValueResponse{}, m.c.setAttributeValueEmpty(r.Session, r.Object)
		}
		var a arena
		defer a.free()
		t, err := miekgTemplate(&a, r.Template)
		if err != nil {
			return nil, err
		}
		return &wire.SetAttributeValueResponse{}, m.ctx.SetAttributeValue(sh(r.Session), oh(r.Object), t)
	})
}

// FindObjectsInit is C_FindObjectsInit.
func (m *Module) FindObjectsInit(_ context.Context, r *wire.FindObjectsInitRequest) (*wire.FindObjectsInitResponse, error) {
	return do(m, "C_FindObjectsInit", func() (*wire.FindObjectsInitResponse, error) {
		var a arena
		defer a.free()
		t, err := miekgTemplate(&a, r.Template)
		if err != nil {
			return nil, err
		}
		return &wire.FindObjectsInitResponse{}, m.ctx.FindObjectsInit(sh(r.Session), t)
	})
}

// FindObjects is C_FindObjects.
func (m *Module) FindObjects(_ context.Context, r *wire.FindObjectsRequest) (*wire.FindObjectsResponse, error) {
	return do(m, "C_FindObjects", func() (*wire.FindObjectsResponse, error) {
		// A response cannot carry more than wire.MaxItems handles.
		l, _, err := m.ctx.FindObjects(sh(r.Session), int(min(r.MaxObjectCount, wire.MaxItems)))
		if err != nil {
			return nil, err
		}
		out := make([]uint64, len(l))
		for i, o := range l {
			out[i] = uint64(o)
		}
		return &wire.FindObjectsResponse{Objects: out}, nil
	})
}

// FindObjectsFinal is C_FindObjectsFinal.
func (m *Module) FindObjectsFinal(_ context.Context, r *wire.FindObjectsFinalRequest) (*wire.FindObjectsFinalResponse, error) {
	return do(m, "C_FindObjectsFinal", func() (*wire.FindObjectsFinalResponse, error) {
		return &wire.FindObjectsFinalResponse{}, m.ctx.FindObjectsFinal(sh(r.Session))
	})
}

// EncryptInit is C_EncryptInit.
func (m *Module) EncryptInit(_ context.Context, r *wire.EncryptInitRequest) (*wire.EncryptInitResponse, error) {
	return do(m, "C_EncryptInit", func() (*wire.EncryptInitResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		return &wire.EncryptInitResponse{}, m.ctx.EncryptInit(sh(r.Session), mech, oh(r.Key))
	})
}

// Encrypt is C_Encrypt: both calls made here, the size query's answer kept.
func (m *Module) Encrypt(_ context.Context, r *wire.EncryptRequest) (*wire.EncryptResponse, error) {
	return do(m, "C_Encrypt", func() (*wire.EncryptResponse, error) {
		b, hint, err := m.c.twoCall(fnEncrypt, r.Session, r.Data)
		if err != nil {
			return nil, err
		}
		return &wire.EncryptResponse{EncryptedData: b, SizeHint: hint}, nil
	})
}

// EncryptUpdate is C_EncryptUpdate: both calls made here, the size query's answer kept.
func (m *Module) EncryptUpdate(_ context.Context, r *wire.EncryptUpdateRequest) (*wire.EncryptUpdateResponse, error) {
	return do(m, "C_EncryptUpdate", func() (*wire.EncryptUpdateResponse, error) {
		b, hint, err := m.c.twoCall(fnEncryptUpdate, r.Session, r.Part)
		if err != nil {
			return nil, err
		}
		return &wire.EncryptUpdateResponse{EncryptedPart: b, SizeHint: hint}, nil
	})
}

// EncryptFinal is C_EncryptFinal: both calls made here, the size query's answer kept.
func (m *Module) EncryptFinal(_ context.Context, r *wire.EncryptFinalRequest) (*wire.EncryptFinalResponse, error) {
	return do(m, "C_EncryptFinal", func() (*wire.EncryptFinalResponse, error) {
		b, hint, err := m.c.twoCall(fnEncryptFinal, r.Session, nil)
		if err != nil {
			return nil, err
		}
		return &wire.EncryptFinalResponse{LastEncryptedPart: b, SizeHint: hint}, nil
	})
}

// DecryptInit is C_DecryptInit.
func (m *Module) DecryptInit(_ context.Context, r *wire.DecryptInitRequest) (*wire.DecryptInitResponse, error) {
	return do(m, "C_DecryptInit", func() (*wire.DecryptInitResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		return &wire.DecryptInitResponse{}, m.ctx.DecryptInit(sh(r.Session), mech, oh(r.Key))
	})
}

// Decrypt is C_Decrypt: both calls made here, the size query's answer kept.
func (m *Module) Decrypt(_ context.Context, r *wire.DecryptRequest) (*wire.DecryptResponse, error) {
	return do(m, "C_Decrypt", func() (*wire.DecryptResponse, error) {
		b, hint, err := m.c.twoCall(fnDecrypt, r.Session, r.EncryptedData)
		if err != nil {
			return nil, err
		}
		return &wire.DecryptResponse{Data: b, SizeHint: hint}, nil
	})
}

// DecryptUpdate is C_DecryptUpdate: both calls made here, the size query's answer kept.
func (m *Module) DecryptUpdate(_ context.Context, r *wire.DecryptUpdateRequest) (*wire.DecryptUpdateResponse, error) {
	return do(m, "C_DecryptUpdate", func() (*wire.DecryptUpdateResponse, error) {
		b, hint, err := m.c.twoCall(fnDecryptUpdate, r.Session, r.EncryptedPart)
		if err != nil {
			return nil, err
		}
		return &wire.DecryptUpdateResponse{Part: b, SizeHint: hint}, nil
	})
}

// DecryptFinal is C_DecryptFinal: both calls made here, the size query's answer kept.
func (m *Module) DecryptFinal(_ context.Context, r *wire.DecryptFinalRequest) (*wire.DecryptFinalResponse, error) {
	return do(m, "C_DecryptFinal", func() (*wire.DecryptFinalResponse, error) {
		b, hint, err := m.c.twoCall(fnDecryptFinal, r.Session, nil)
		if err != nil {
			return nil, err
		}
		return &wire.DecryptFinalResponse{LastPart: b, SizeHint: hint}, nil
	})
}

// DigestInit is C_DigestInit.
func (m *Module) DigestInit(_ context.Context, r *wire.DigestInitRequest) (*wire.DigestInitResponse, error) {
	return do(m, "C_DigestInit", func() (*wire.DigestInitResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		return &wire.DigestInitResponse{}, m.ctx.DigestInit(sh(r.Session), mech)
	})
}

// Digest is C_Digest: both calls made here, the size query's answer kept.
func (m *Module) Digest(_ context.Context, r *wire.DigestRequest) (*wire.DigestResponse, error) {
	return do(m, "C_Digest", func() (*wire.DigestResponse, error) {
		b, hint, err := m.c.twoCall(fnDigest, r.Session, r.Data)
		if err != nil {
			return nil, err
		}
		return &wire.DigestResponse{Digest: b, SizeHint: hint}, nil
	})
}

// DigestUpdate is C_DigestUpdate.
func (m *Module) DigestUpdate(_ context.Context, r *wire.DigestUpdateRequest) (*wire.DigestUpdateResponse, error) {
	return do(m, "C_DigestUpdate", func() (*wire.DigestUpdateResponse, error) {
		return &wire.DigestUpdateResponse{}, m.ctx.DigestUpdate(sh(r.Session), r.Part)
	})
}

// DigestKey is C_DigestKey.
func (m *Module) DigestKey(_ context.Context, r *wire.DigestKeyRequest) (*wire.DigestKeyResponse, error) {
	return do(m, "C_DigestKey", func() (*wire.DigestKeyResponse, error) {
		return &wire.DigestKeyResponse{}, m.ctx.DigestKey(sh(r.Session), oh(r.Key))
	})
}

// DigestFinal is C_DigestFinal: both calls made here, the size query's answer kept.
func (m *Module) DigestFinal(_ context.Context, r *wire.DigestFinalRequest) (*wire.DigestFinalResponse, error) {
	return do(m, "C_DigestFinal", func() (*wire.DigestFinalResponse, error) {
		b, hint, err := m.c.twoCall(fnDigestFinal, r.Session, nil)
		if err != nil {
			return nil, err
		}
		return &wire.DigestFinalResponse{Digest: b, SizeHint: hint}, nil
	})
}

// SignInit is C_SignInit.
func (m *Module) SignInit(_ context.Context, r *wire.SignInitRequest) (*wire.SignInitResponse, error) {
	return do(m, "C_SignInit", func() (*wire.SignInitResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		return &wire.SignInitResponse{}, m.ctx.SignInit(sh(r.Session), mech, oh(r.Key))
	})
}

// Sign is C_Sign: both calls made here, the size query's answer kept.
func (m *Module) Sign(_ context.Context, r *wire.SignRequest) (*wire.SignResponse, error) {
	return do(m, "C_Sign", func() (*wire.SignResponse, error) {
		b, hint, err := m.c.twoCall(fnSign, r.Session, r.Data)
		if err != nil {
			return nil, err
		}
		return &wire.SignResponse{Signature: b, SizeHint: hint}, nil
	})
}

// SignUpdate is C_SignUpdate.
func (m *Module) SignUpdate(_ context.Context, r *wire.SignUpdateRequest) (*wire.SignUpdateResponse, error) {
	return do(m, "C_SignUpdate", func() (*wire.SignUpdateResponse, error) {
		return &wire.SignUpdateResponse{}, m.ctx.SignUpdate(sh(r.Session), r.Part)
	})
}

// SignFinal is C_SignFinal: both calls made here, the size query's answer kept.
func (m *Module) SignFinal(_ context.Context, r *wire.SignFinalRequest) (*wire.SignFinalResponse, error) {
	return do(m, "C_SignFinal", func() (*wire.SignFinalResponse, error) {
		b, hint, err := m.c.twoCall(fnSignFinal, r.Session, nil)
		if err != nil {
			return nil, err
		}
		return &wire.SignFinalResponse{Signature: b, SizeHint: hint}, nil
	})
}

// SignRecoverInit is C_SignRecoverInit.
func (m *Module) SignRecoverInit(_ context.Context, r *wire.SignRecoverInitRequest) (*wire.SignRecoverInitResponse, error) {
	return do(m, "C_SignRecoverInit", func() (*wire.SignRecoverInitResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		return &wire.SignRecoverInitResponse{}, m.ctx.SignRecoverInit(sh(r.Session), mech, oh(r.Key))
	})
}

// SignRecover is C_SignRecover: both calls made here, the size query's answer kept.
func (m *Module) SignRecover(_ context.Context, r *wire.SignRecoverRequest) (*wire.SignRecoverResponse, error) {
	return do(m, "C_SignRecover", func() (*wire.SignRecoverResponse, error) {
		b, hint, err := m.c.twoCall(fnSignRecover, r.Session, r.Data)
		if err != nil {
			return nil, err
		}
		return &wire.SignRecoverResponse{Signature: b, SizeHint: hint}, nil
	})
}

// VerifyInit is C_VerifyInit.
func (m *Module) VerifyInit(_ context.Context, r *wire.VerifyInitRequest) (*wire.VerifyInitResponse, error) {
	return do(m, "C_VerifyInit", func() (*wire.VerifyInitResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		return &wire.VerifyInitResponse{}, m.ctx.VerifyInit(sh(r.Session), mech, oh(r.Key))
	})
}

// Verify is C_Verify.
func (m *Module) Verify(_ context.Context, r *wire.VerifyRequest) (*wire.VerifyResponse, error) {
	return do(m, "C_Verify", func() (*wire.VerifyResponse, error) {
		return &wire.VerifyResponse{}, m.ctx.Verify(sh(r.Session), r.Data, r.Signature)
	})
}

// VerifyUpdate is C_VerifyUpdate.
func (m *Module) VerifyUpdate(_ context.Context, r *wire.VerifyUpdateRequest) (*wire.VerifyUpdateResponse, error) {
	return do(m, "C_VerifyUpdate", func() (*wire.VerifyUpdateResponse, error) {
		return &wire.VerifyUpdateResponse{}, m.ctx.VerifyUpdate(sh(r.Session), r.Part)
	})
}

// VerifyFinal is C_VerifyFinal.
func (m *Module) VerifyFinal(_ context.Context, r *wire.VerifyFinalRequest) (*wire.VerifyFinalResponse, error) {
	return do(m, "C_VerifyFinal", func() (*wire.VerifyFinalResponse, error) {
		return &wire.VerifyFinalResponse{}, m.ctx.VerifyFinal(sh(r.Session), r.Signature)
	})
}

// VerifyRecoverInit is C_VerifyRecoverInit.
func (m *Module) VerifyRecoverInit(_ context.Context, r *wire.VerifyRecoverInitRequest) (*wire.VerifyRecoverInitResponse, error) {
	return do(m, "C_VerifyRecoverInit", func() (*wire.VerifyRecoverInitResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		return &wire.VerifyRecoverInitResponse{}, m.ctx.VerifyRecoverInit(sh(r.Session), mech, oh(r.Key))
	})
}

// VerifyRecover is C_VerifyRecover: both calls made here, the size query's answer kept.
func (m *Module) VerifyRecover(_ context.Context, r *wire.VerifyRecoverRequest) (*wire.VerifyRecoverResponse, error) {
	return do(m, "C_VerifyRecover", func() (*wire.VerifyRecoverResponse, error) {
		b, hint, err := m.c.twoCall(fnVerifyRecover, r.Session, r.Signature)
		if err != nil {
			return nil, err
		}
		return &wire.VerifyRecoverResponse{Data: b, SizeHint: hint}, nil
	})
}

// DigestEncryptUpdate is C_DigestEncryptUpdate: both calls made here, the size query's answer kept.
func (m *Module) DigestEncryptUpdate(_ context.Context, r *wire.DigestEncryptUpdateRequest) (*wire.DigestEncryptUpdateResponse, error) {
	return do(m, "C_DigestEncryptUpdate", func() (*wire.DigestEncryptUpdateResponse, error) {
		b, hint, err := m.c.twoCall(fnDigestEncryptUpdate, r.Session, r.Part)
		if err != nil {
			return nil, err
		}
		return &wire.DigestEncryptUpdateResponse{EncryptedPart: b, SizeHint: hint}, nil
	})
}

// DecryptDigestUpdate is C_DecryptDigestUpdate: both calls made here, the size query's answer kept.
func (m *Module) DecryptDigestUpdate(_ context.Context, r *wire.DecryptDigestUpdateRequest) (*wire.DecryptDigestUpdateResponse, error) {
	return do(m, "C_DecryptDigestUpdate", func() (*wire.DecryptDigestUpdateResponse, error) {
		b, hint, err := m.c.twoCall(fnDecryptDigestUpdate, r.Session, r.EncryptedPart)
		if err != nil {
			return nil, err
		}
		return &wire.DecryptDigestUpdateResponse{Part: b, SizeHint: hint}, nil
	})
}

// SignEncryptUpdate is C_SignEncryptUpdate: both calls made here, the size query's answer kept.
func (m *Module) SignEncryptUpdate(_ context.Context, r *wire.SignEncryptUpdateRequest) (*wire.SignEncryptUpdateResponse, error) {
	return do(m, "C_SignEncryptUpdate", func() (*wire.SignEncryptUpdateResponse, error) {
		b, hint, err := m.c.twoCall(fnSignEncryptUpdate, r.Session, r.Part)
		if err != nil {
			return nil, err
		}
		return &wire.SignEncryptUpdateResponse{EncryptedPart: b, SizeHint: hint}, nil
	})
}

// DecryptVerifyUpdate is C_DecryptVerifyUpdate: both calls made here, the size query's answer kept.
func (m *Module) DecryptVerifyUpdate(_ context.Context, r *wire.DecryptVerifyUpdateRequest) (*wire.DecryptVerifyUpdateResponse, error) {
	return do(m, "C_DecryptVerifyUpdate", func() (*wire.DecryptVerifyUpdateResponse, error) {
		b, hint, err := m.c.twoCall(fnDecryptVerifyUpdate, r.Session, r.EncryptedPart)
		if err != nil {
			return nil, err
		}
		return &wire.DecryptVerifyUpdateResponse{Part: b, SizeHint: hint}, nil
	})
}

// GenerateKey is C_GenerateKey.
func (m *Module) GenerateKey(_ context.Context, r *wire.GenerateKeyRequest) (*wire.GenerateKeyResponse, error) {
	return do(m, "C_GenerateKey", func() (*wire.GenerateKeyResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		t, err := miekgTemplate(&a, r.Template)
		if err != nil {
			return nil, err
		}
		k, err := m.ctx.GenerateKey(sh(r.Session), mech, t)
		return &wire.GenerateKeyResponse{Key: uint64(k)}, err
	})
}

// GenerateKeyPair is C_GenerateKeyPair.
func (m *Module) GenerateKeyPair(_ context.Context, r *wire.GenerateKeyPairRequest) (*wire.GenerateKeyPairResponse, error) {
	return do(m, "C_GenerateKeyPair", func() (*wire.GenerateKeyPairResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		pub, err := miekgTemplate(&a, r.PublicKeyTemplate)
		if err != nil {
			return nil, err
		}
		priv, err := miekgTemplate(&a, r.PrivateKeyTemplate)
		if err != nil {
			return nil, err
		}
		pk, k, err := m.ctx.GenerateKeyPair(sh(r.Session), mech, pub, priv)
		return &wire.GenerateKeyPairResponse{PublicKey: uint64(pk), PrivateKey: uint64(k)}, err
	})
}

// WrapKey is C_WrapKey.
func (m *Module) WrapKey(_ context.Context, r *wire.WrapKeyRequest) (*wire.WrapKeyResponse, error) {
	return do(m, "C_WrapKey", func() (*wire.WrapKeyResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		b, err := m.ctx.WrapKey(sh(r.Session), mech, oh(r.WrappingKey), oh(r.Key))
		if err != nil {
			return nil, err
		}
		return &wire.WrapKeyResponse{WrappedKey: b}, nil
	})
}

// UnwrapKey is C_UnwrapKey.
func (m *Module) UnwrapKey(_ context.Context, r *wire.UnwrapKeyRequest) (*wire.UnwrapKeyResponse, error) {
	return do(m, "C_UnwrapKey", func() (*wire.UnwrapKeyResponse, error) {
		if len(r.WrappedKey) == 0 {
			k, err := m.c.unwrapKeyEmpty(r.Session, r.Mechanism, r.UnwrappingKey, r.Template)
			return &wire.UnwrapKeyResponse{Key: k}, err
		}
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		t, err := miekgTemplate(&a, r.Template)
		if err != nil {
			return nil, err
		}
		k, err := m.ctx.UnwrapKey(sh(r.Session), mech, oh(r.UnwrappingKey), r.WrappedKey, t)
		return &wire.UnwrapKeyResponse{Key: uint64(k)}, err
	})
}

// DeriveKey is C_DeriveKey.
func (m *Module) DeriveKey(_ context.Context, r *wire.DeriveKeyRequest) (*wire.DeriveKeyResponse, error) {
	return do(m, "C_DeriveKey", func() (*wire.DeriveKeyResponse, error) {
		var a arena
		defer a.free()
		mech, err := miekgMechanism(&a, r.Mechanism)
		if err != nil {
			return nil, err
		}
		t, err := miekgTemplate(&a, r.Template)
		if err != nil {
			return nil, err
		}
		k, err := m.ctx.DeriveKey(sh(r.Session), mech, oh(r.BaseKey), t)
		return &wire.DeriveKeyResponse{Key: uint64(k)}, err
	})
}

// SeedRandom is C_SeedRandom.
func (m *Module) SeedRandom(_ context.Context, r *wire.SeedRandomRequest) (*wire.SeedRandomResponse, error) {
	return do(m, "C_SeedRandom", func() (*wire.SeedRandomResponse, error) {
		if len(r.Seed) == 0 {
			return &wire.SeedRandomResponse{}, m.c.seedRandomEmpty(r.Session)
		}
		return &wire.SeedRandomResponse{}, m.ctx.SeedRandom(sh(r.Session), r.Seed)
	})
}

// GenerateRandom is C_GenerateRandom.
func (m *Module) GenerateRandom(_ context.Context, r *wire.GenerateRandomRequest) (*wire.GenerateRandomResponse, error) {
	return do(m, "C_GenerateRandom", func() (*wire.GenerateRandomResponse, error) {
		switch {
		case r.RandomLen == 0:
			return &wire.GenerateRandomResponse{RandomData: []byte{}}, m.c.generateRandomEmpty(r.Session)
		case r.RandomLen > maxRandom:
			// More than a frame can carry back.
			return nil, wire.CKR_HOST_MEMORY
		}
		b, err := m.ctx.GenerateRandom(sh(r.Session), int(r.RandomLen))
		if err != nil {
			return nil, err
		}
		return &wire.GenerateRandomResponse{RandomData: b}, nil
	})
}

// GetFunctionStatus is C_GetFunctionStatus.
func (m *Module) GetFunctionStatus(_ context.Context, r *wire.GetFunctionStatusRequest) (*wire.GetFunctionStatusResponse, error) {
	return do(m, "C_GetFunctionStatus", func() (*wire.GetFunctionStatusResponse, error) {
		return &wire.GetFunctionStatusResponse{}, m.c.getFunctionStatus(r.Session)
	})
}

// CancelFunction is C_CancelFunction.
func (m *Module) CancelFunction(_ context.Context, r *wire.CancelFunctionRequest) (*wire.CancelFunctionResponse, error) {
	return do(m, "C_CancelFunction", func() (*wire.CancelFunctionResponse, error) {
		return &wire.CancelFunctionResponse{}, m.c.cancelFunction(r.Session)
	})
}
