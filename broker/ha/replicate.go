package ha

import (
	"context"
	"errors"

	"github.com/gop11/gop11/wire"
)

// new_keys = "replicate": a token object made on one member is made on
// every other member that is up before the call returns. A private or
// secret key travels wrapped under the replication key (an AES key with
// that label on every member, CKM_AES_KEY_WRAP_PAD), so it is never in
// the clear outside an HSM; a public key is made again from its public
// attributes; C_CreateObject and C_CopyObject run again as they are.

// wrapMech wraps keys between members: PKCS #8 for private keys (RFC 5649
// padding), supported by SoftHSM2 and most HSMs.
var wrapMech = wire.Mechanism{Type: wire.CKM_AES_KEY_WRAP_PAD}

// Attributes a copy takes from the original, by class; those the
// original does not have are left out. The rest (CKA_LOCAL,
// CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE) the member sets: on a copy
// they say it was unwrapped.
var (
	commonAttrs = []uint64{wire.CKA_CLASS, wire.CKA_KEY_TYPE, wire.CKA_TOKEN, wire.CKA_PRIVATE, wire.CKA_LABEL, wire.CKA_ID,
		wire.CKA_MODIFIABLE, wire.CKA_DERIVE, wire.CKA_START_DATE, wire.CKA_END_DATE}
	privateAttrs = []uint64{wire.CKA_SENSITIVE, wire.CKA_EXTRACTABLE, wire.CKA_SIGN, wire.CKA_SIGN_RECOVER, wire.CKA_DECRYPT,
		wire.CKA_UNWRAP, wire.CKA_SUBJECT}
	secretAttrs = []uint64{wire.CKA_SENSITIVE, wire.CKA_EXTRACTABLE, wire.CKA_SIGN, wire.CKA_VERIFY, wire.CKA_ENCRYPT,
		wire.CKA_DECRYPT, wire.CKA_WRAP, wire.CKA_UNWRAP}
	publicAttrs = []uint64{wire.CKA_ENCRYPT, wire.CKA_VERIFY, wire.CKA_VERIFY_RECOVER, wire.CKA_WRAP, wire.CKA_SUBJECT,
		wire.CKA_MODULUS, wire.CKA_PUBLIC_EXPONENT, wire.CKA_EC_PARAMS, wire.CKA_EC_POINT,
		wire.CKA_PRIME, wire.CKA_SUBPRIME, wire.CKA_BASE, wire.CKA_VALUE}
)

// errNotCopied: the object cannot be copied to other members (a key that
// may not be wrapped, say); it stays on the member that made it.
var errNotCopied = errors.New("cannot be copied to the other members")

// replicate makes the objects hs (member i's handles, made by req) on
// every other member that is up. It returns each object's handle per
// member (0 where it is missing), or errNotCopied, or a member's error.
func (c *Conn) replicate(ctx context.Context, s *session, i int, d *wire.CallDesc, req wire.Message, hs []uint64) ([][]uint64, error) {
	out := make([][]uint64, len(hs))
	for n, h := range hs {
		out[n] = make([]uint64, len(c.links))
		out[n][i] = h
	}
	for j, m := range c.g.members {
		if j == i {
			continue
		}
		if m.down.Load() {
			c.log.Warn().Str("call", d.Name).Str("member", m.name).Msg("group member down: it misses the new object, which is used on the other members only")
			continue
		}
		made, err := c.copyTo(ctx, s, i, j, d, req, hs)
		if Failed(err) || errors.Is(err, ErrStale) {
			c.g.markDown(j, err)
			c.log.Warn().Str("call", d.Name).Str("member", m.name).Msg("group member failed: it misses the new object, which is used on the other members only")
			continue
		}
		if err != nil {
			c.destroyCopies(ctx, s, out, i)
			if !errors.Is(err, errNotCopied) {
				c.log.Warn().Str("call", d.Name).Str("member", m.name).Err(err).Msg("copying the new object to this member failed")
			}
			return nil, errNotCopied
		}
		for n := range hs {
			out[n][j] = made[n]
		}
	}
	return out, nil
}

// copyTo makes member i's new objects hs on member j.
func (c *Conn) copyTo(ctx context.Context, s *session, i, j int, d *wire.CallDesc, req wire.Message, hs []uint64) ([]uint64, error) {
	switch req.(type) {
	case *wire.CreateObjectRequest, *wire.CopyObjectRequest:
		resp, err := c.on(ctx, s, j, d.ID, req)
		if err != nil {
			return nil, err
		}
		var h uint64
		resp.Handles(func(k wire.HandleKind, p *uint64) { h = *p })
		return []uint64{h}, nil
	}
	if err := c.ready(ctx, s, j); err != nil {
		return nil, err
	}
	made := make([]uint64, 0, len(hs))
	for _, h := range hs {
		hj, err := c.copyKey(ctx, s, i, j, h)
		if err != nil {
			for _, m := range made {
				c.call(ctx, j, s.realInc[j], wire.CallDestroyObject, &wire.DestroyObjectRequest{Session: s.real[j], Object: m})
			}
			return nil, err
		}
		made = append(made, hj)
	}
	return made, nil
}

// copyKey copies key h of member i to member j.
func (c *Conn) copyKey(ctx context.Context, s *session, i, j int, h uint64) (uint64, error) {
	class, err := c.readAttrs(ctx, s, i, h, []uint64{wire.CKA_CLASS})
	if err != nil || len(class) == 0 {
		return 0, errors.Join(errNotCopied, err)
	}
	switch class[0].ULong {
	case wire.CKO_PUBLIC_KEY:
		t, err := c.readAttrs(ctx, s, i, h, append(commonAttrs, publicAttrs...))
		if err != nil {
			return 0, err
		}
		resp, _, err := c.call(ctx, j, s.realInc[j], wire.CallCreateObject, &wire.CreateObjectRequest{Session: s.real[j], Template: t})
		if err != nil {
			return 0, err
		}
		return resp.(*wire.CreateObjectResponse).Object, nil
	case wire.CKO_PRIVATE_KEY, wire.CKO_SECRET_KEY:
		extra := privateAttrs
		if class[0].ULong == wire.CKO_SECRET_KEY {
			extra = secretAttrs
		}
		t, err := c.readAttrs(ctx, s, i, h, append(commonAttrs, extra...))
		if err != nil {
			return 0, err
		}
		wk, err := c.replicationKey(ctx, s, i)
		if err != nil {
			return 0, err
		}
		resp, _, err := c.call(ctx, i, s.realInc[i], wire.CallWrapKey, &wire.WrapKeyRequest{Session: s.real[i], Mechanism: wrapMech, WrappingKey: wk, Key: h})
		if err != nil {
			if Failed(err) {
				return 0, err
			}
			c.log.Warn().Str("member", c.g.members[i].name).Err(err).
				Msg("the new key cannot be wrapped under the replication key (CKA_EXTRACTABLE false?): it stays on the member that made it")
			return 0, errNotCopied
		}
		blob := resp.(*wire.WrapKeyResponse).WrappedKey
		defer clear(blob)
		uk, err := c.replicationKey(ctx, s, j)
		if err != nil {
			return 0, err
		}
		resp, _, err = c.call(ctx, j, s.realInc[j], wire.CallUnwrapKey, &wire.UnwrapKeyRequest{Session: s.real[j], Mechanism: wrapMech,
			UnwrappingKey: uk, WrappedKey: blob, Template: t})
		if err != nil {
			return 0, err
		}
		return resp.(*wire.UnwrapKeyResponse).Key, nil
	}
	c.log.Warn().Uint64("class", class[0].ULong).Msg("objects of this class made by this call are not copied to the other members")
	return 0, errNotCopied
}

// readAttrs reads the attributes of types that member i's object h has.
func (c *Conn) readAttrs(ctx context.Context, s *session, i int, h uint64, types []uint64) ([]wire.Attribute, error) {
	resp, _, err := c.call(ctx, i, s.realInc[i], wire.CallGetAttributeValue, &wire.GetAttributeValueRequest{Session: s.real[i], Object: h, Types: types})
	if err != nil && !errors.Is(err, wire.CKR_ATTRIBUTE_TYPE_INVALID) && !errors.Is(err, wire.CKR_ATTRIBUTE_SENSITIVE) {
		return nil, err
	}
	var t []wire.Attribute
	if resp != nil {
		for _, r := range resp.(*wire.GetAttributeValueResponse).Values {
			if r.RV == wire.CKR_OK {
				t = append(t, r.Attr)
			}
		}
	}
	return t, nil
}

// replicationKey is the handle of the replication key on member i.
func (c *Conn) replicationKey(ctx context.Context, s *session, i int) (uint64, error) {
	label := c.g.cfg.ReplicationKey
	hs, err := c.findOn(ctx, s, i, []wire.Attribute{
		{Type: wire.CKA_CLASS, Kind: wire.KindOf(wire.CKA_CLASS), ULong: wire.CKO_SECRET_KEY},
		{Type: wire.CKA_LABEL, Kind: wire.KindOf(wire.CKA_LABEL), Bytes: []byte(label)},
	}, 1)
	if err != nil {
		return 0, err
	}
	if len(hs) == 0 {
		c.log.Error().Str("member", c.g.members[i].name).Str("label", label).
			Msg("no replication key on this member (an AES secret key with this label, visible to the logged-in user): new keys stay on the member that made them")
		return 0, errNotCopied
	}
	return hs[0], nil
}

// destroyCopies removes the copies made so far on members other than i.
func (c *Conn) destroyCopies(ctx context.Context, s *session, out [][]uint64, i int) {
	for _, per := range out {
		for j, h := range per {
			if j != i && h != 0 {
				c.call(ctx, j, s.realInc[j], wire.CallDestroyObject, &wire.DestroyObjectRequest{Session: s.real[j], Object: h})
			}
		}
	}
}
