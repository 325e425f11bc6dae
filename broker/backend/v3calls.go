//go:build cgo

package backend

import (
	"context"

	"github.com/gop11/gop11/wire"
)

// The message functions, one method each (v3.go makes the calls).

func (m *Module) MessageEncryptInit(_ context.Context, r *wire.MessageEncryptInitRequest) (*wire.MessageEncryptInitResponse, error) {
	return &wire.MessageEncryptInitResponse{}, m.messageInit("C_MessageEncryptInit", opEncrypt, r.Session, r.Mechanism, r.Key)
}

func (m *Module) MessageDecryptInit(_ context.Context, r *wire.MessageDecryptInitRequest) (*wire.MessageDecryptInitResponse, error) {
	return &wire.MessageDecryptInitResponse{}, m.messageInit("C_MessageDecryptInit", opDecrypt, r.Session, r.Mechanism, r.Key)
}

func (m *Module) MessageSignInit(_ context.Context, r *wire.MessageSignInitRequest) (*wire.MessageSignInitResponse, error) {
	return &wire.MessageSignInitResponse{}, m.messageInit("C_MessageSignInit", opSign, r.Session, r.Mechanism, r.Key)
}

func (m *Module) MessageVerifyInit(_ context.Context, r *wire.MessageVerifyInitRequest) (*wire.MessageVerifyInitResponse, error) {
	return &wire.MessageVerifyInitResponse{}, m.messageInit("C_MessageVerifyInit", opVerify, r.Session, r.Mechanism, r.Key)
}

func (m *Module) MessageEncryptFinal(_ context.Context, r *wire.MessageEncryptFinalRequest) (*wire.MessageEncryptFinalResponse, error) {
	return &wire.MessageEncryptFinalResponse{}, m.messageFinal("C_MessageEncryptFinal", opEncrypt, r.Session)
}

func (m *Module) MessageDecryptFinal(_ context.Context, r *wire.MessageDecryptFinalRequest) (*wire.MessageDecryptFinalResponse, error) {
	return &wire.MessageDecryptFinalResponse{}, m.messageFinal("C_MessageDecryptFinal", opDecrypt, r.Session)
}

func (m *Module) MessageSignFinal(_ context.Context, r *wire.MessageSignFinalRequest) (*wire.MessageSignFinalResponse, error) {
	return &wire.MessageSignFinalResponse{}, m.messageFinal("C_MessageSignFinal", opSign, r.Session)
}

func (m *Module) MessageVerifyFinal(_ context.Context, r *wire.MessageVerifyFinalRequest) (*wire.MessageVerifyFinalResponse, error) {
	return &wire.MessageVerifyFinalResponse{}, m.messageFinal("C_MessageVerifyFinal", opVerify, r.Session)
}

func (m *Module) EncryptMessageBegin(_ context.Context, r *wire.EncryptMessageBeginRequest) (*wire.EncryptMessageBeginResponse, error) {
	p, err := m.messageBegin("C_EncryptMessageBegin", opEncrypt, r.Session, r.Parameter, r.AssociatedData)
	return &wire.EncryptMessageBeginResponse{Parameter: p}, err
}

func (m *Module) DecryptMessageBegin(_ context.Context, r *wire.DecryptMessageBeginRequest) (*wire.DecryptMessageBeginResponse, error) {
	p, err := m.messageBegin("C_DecryptMessageBegin", opDecrypt, r.Session, r.Parameter, r.AssociatedData)
	return &wire.DecryptMessageBeginResponse{Parameter: p}, err
}

func (m *Module) SignMessageBegin(_ context.Context, r *wire.SignMessageBeginRequest) (*wire.SignMessageBeginResponse, error) {
	p, err := m.messageBegin("C_SignMessageBegin", opSign, r.Session, r.Parameter, nil)
	return &wire.SignMessageBeginResponse{Parameter: p}, err
}

func (m *Module) VerifyMessageBegin(_ context.Context, r *wire.VerifyMessageBeginRequest) (*wire.VerifyMessageBeginResponse, error) {
	p, err := m.messageBegin("C_VerifyMessageBegin", opVerify, r.Session, r.Parameter, nil)
	return &wire.VerifyMessageBeginResponse{Parameter: p}, err
}

func (m *Module) EncryptMessage(_ context.Context, r *wire.EncryptMessageRequest) (*wire.EncryptMessageResponse, error) {
	p, out, err := m.message("C_EncryptMessage", message{op: opEncrypt, s: r.Session, param: r.Parameter,
		aad: r.AssociatedData, in: r.Plaintext, out: r.CiphertextBuf})
	return &wire.EncryptMessageResponse{Parameter: p, Ciphertext: out}, err
}

func (m *Module) DecryptMessage(_ context.Context, r *wire.DecryptMessageRequest) (*wire.DecryptMessageResponse, error) {
	p, out, err := m.message("C_DecryptMessage", message{op: opDecrypt, s: r.Session, param: r.Parameter,
		aad: r.AssociatedData, in: r.Ciphertext, out: r.PlaintextBuf})
	return &wire.DecryptMessageResponse{Parameter: p, Plaintext: out}, err
}

func (m *Module) EncryptMessageNext(_ context.Context, r *wire.EncryptMessageNextRequest) (*wire.EncryptMessageNextResponse, error) {
	p, out, err := m.message("C_EncryptMessageNext", message{op: opEncrypt, next: true, s: r.Session, param: r.Parameter,
		in: r.PlaintextPart, out: r.CiphertextPartBuf, flags: r.Flags})
	return &wire.EncryptMessageNextResponse{Parameter: p, CiphertextPart: out}, err
}

func (m *Module) DecryptMessageNext(_ context.Context, r *wire.DecryptMessageNextRequest) (*wire.DecryptMessageNextResponse, error) {
	p, out, err := m.message("C_DecryptMessageNext", message{op: opDecrypt, next: true, s: r.Session, param: r.Parameter,
		in: r.CiphertextPart, out: r.PlaintextPartBuf, flags: r.Flags})
	return &wire.DecryptMessageNextResponse{Parameter: p, PlaintextPart: out}, err
}

func (m *Module) SignMessage(_ context.Context, r *wire.SignMessageRequest) (*wire.SignMessageResponse, error) {
	p, out, err := m.message("C_SignMessage", message{op: opSign, s: r.Session, param: r.Parameter, in: r.Data, out: r.SignatureBuf})
	return &wire.SignMessageResponse{Parameter: p, Signature: out}, err
}

func (m *Module) SignMessageNext(_ context.Context, r *wire.SignMessageNextRequest) (*wire.SignMessageNextResponse, error) {
	p, out, err := m.message("C_SignMessageNext", message{op: opSign, next: true, s: r.Session, param: r.Parameter, in: r.Data, out: r.SignatureBuf})
	return &wire.SignMessageNextResponse{Parameter: p, Signature: out}, err
}

func (m *Module) VerifyMessage(_ context.Context, r *wire.VerifyMessageRequest) (*wire.VerifyMessageResponse, error) {
	p, _, err := m.message("C_VerifyMessage", message{op: opVerify, s: r.Session, param: r.Parameter, in: r.Data, sig: r.Signature})
	return &wire.VerifyMessageResponse{Parameter: p}, err
}

func (m *Module) VerifyMessageNext(_ context.Context, r *wire.VerifyMessageNextRequest) (*wire.VerifyMessageNextResponse, error) {
	p, _, err := m.message("C_VerifyMessageNext", message{op: opVerify, next: true, s: r.Session, param: r.Parameter, in: r.Data, sig: r.Signature})
	return &wire.VerifyMessageNextResponse{Parameter: p}, err
}
