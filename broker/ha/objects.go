package ha

import (
	"context"
	"errors"

	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/wire"
)

// handle is virtual object v's handle on member i, found there by its key
// the first time.
func (c *Conn) handle(ctx context.Context, s *session, i int, v uint64) (uint64, error) {
	inc := s.realInc[i]
	c.mu.Lock()
	o := c.objects[v]
	switch {
	case o == nil:
		c.mu.Unlock()
		return 0, wire.CKR_OBJECT_HANDLE_INVALID
	case o.hInc[i] == inc:
		h := o.h[i]
		c.mu.Unlock()
		return h, nil
	case o.only >= 0 && o.only != i, o.missing[i] == inc:
		c.mu.Unlock()
		return 0, errSkip
	case o.session != 0 || !o.keyed:
		// A session object (or one that cannot be matched) lived only in
		// the member incarnation that is gone.
		c.mu.Unlock()
		return 0, wire.CKR_OBJECT_HANDLE_INVALID
	}
	key := o.key
	c.mu.Unlock()
	h, err := c.findKey(ctx, s, i, key)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h == 0 {
		o.missing[i] = inc
		c.g.notePartial(key, i)
		c.log.Info().Str("member", c.g.members[i].name).Uint64("class", key.class).Str("label", key.label).
			Msg("object not on this group member: it is used on the others only")
		return 0, errSkip
	}
	o.h[i], o.hInc[i] = h, inc
	if c.inc[i] == inc {
		c.rev[i][h] = v
	}
	return h, nil
}

// findKey finds the object with key on member i: 0 if there is none.
func (c *Conn) findKey(ctx context.Context, s *session, i int, key objKey) (uint64, error) {
	tmpl := []wire.Attribute{
		{Type: wire.CKA_CLASS, Kind: wire.KindOf(wire.CKA_CLASS), ULong: key.class},
		{Type: wire.CKA_ID, Kind: wire.KindOf(wire.CKA_ID), Bytes: []byte(key.id)},
		{Type: wire.CKA_LABEL, Kind: wire.KindOf(wire.CKA_LABEL), Bytes: []byte(key.label)},
	}
	hs, err := c.findOn(ctx, s, i, tmpl, 2)
	if err != nil || len(hs) == 0 {
		return 0, err
	}
	if len(hs) > 1 {
		c.log.Warn().Str("member", c.g.members[i].name).Uint64("class", key.class).Str("label", key.label).
			Msg("several objects on this member have the same class, ID and label: using the first")
	}
	return hs[0], nil
}

// findOn runs a whole find on member i, up to max handles (0: all).
func (c *Conn) findOn(ctx context.Context, s *session, i int, tmpl []wire.Attribute, max int) ([]uint64, error) {
	if err := c.ready(ctx, s, i); err != nil {
		return nil, err
	}
	inc, ses := s.realInc[i], s.real[i]
	if _, _, err := c.call(ctx, i, inc, wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: ses, Template: tmpl}); err != nil {
		return nil, err
	}
	var out []uint64
	var err error
	for max == 0 || len(out) < max {
		var resp wire.Message
		resp, _, err = c.call(ctx, i, inc, wire.CallFindObjects, &wire.FindObjectsRequest{Session: ses, MaxObjectCount: 1024})
		if err != nil {
			break
		}
		got := resp.(*wire.FindObjectsResponse).Objects
		out = append(out, got...)
		if len(got) < 1024 {
			break
		}
	}
	if _, _, ferr := c.call(ctx, i, inc, wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: ses}); err == nil {
		err = ferr
	}
	return out, err
}

// findInit runs the find on every member that is up and keeps the union
// of what they found, one virtual handle per logical object.
func (c *Conn) findInit(ctx context.Context, s *session, q *wire.FindObjectsInitRequest) (wire.Message, error) {
	if s.finding {
		return nil, wire.CKR_OPERATION_ACTIVE
	}
	up := make([]bool, len(c.links))
	for i, m := range c.g.members {
		up[i] = !m.down.Load()
	}
	if !anyTrue(up) {
		for i := range up {
			up[i] = true // none is up: try them all, a find is a check too
		}
	}
	var out []uint64
	seen := map[uint64]bool{}
	found := make([]map[uint64]bool, len(c.links)) // per member that answered: what it found
	var last error
	for i := range c.links {
		if !up[i] {
			continue
		}
		hs, err := c.findOn(ctx, s, i, q.Template, 0)
		if err == nil {
			found[i] = map[uint64]bool{}
			for _, h := range hs {
				var v uint64
				if v, err = c.virtualOf(ctx, s, i, h); err != nil {
					break
				}
				found[i][v] = true
				if !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
		if c.retry(i, err) {
			found[i], last = nil, err
			continue
		}
		if err != nil {
			return nil, err // the module's answer to this template
		}
	}
	if !anyFound(found) {
		return nil, c.noMember(wire.Lookup(wire.CallFindObjectsInit), last)
	}
	c.missingFrom(s, out, found)
	s.found, s.finding = out, true
	return &wire.FindObjectsInitResponse{}, nil
}

func anyFound(found []map[uint64]bool) bool {
	for _, f := range found {
		if f != nil {
			return true
		}
	}
	return false
}

// missingFrom notes the token objects of a search that a member which
// answered the same search did not return: they are not there (or differ
// there), so they are used on the others only.
func (c *Conn) missingFrom(s *session, out []uint64, found []map[uint64]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range out {
		o := c.objects[v]
		if o == nil || o.session != 0 || !o.keyed {
			continue
		}
		for i, f := range found {
			if f != nil && !f[v] && o.missing[i] != s.realInc[i] {
				o.missing[i] = s.realInc[i]
				c.g.notePartial(o.key, i)
				c.log.Info().Str("member", c.g.members[i].name).Uint64("class", o.key.class).Str("label", o.key.label).
					Msg("object not on this group member: it is used on the others only")
			}
		}
	}
}

func anyTrue(b []bool) bool {
	for _, x := range b {
		if x {
			return true
		}
	}
	return false
}

// virtualOf is the virtual handle of member i's object h: the logical
// object with the same key, or a new one.
func (c *Conn) virtualOf(ctx context.Context, s *session, i int, h uint64) (uint64, error) {
	inc := s.realInc[i]
	c.mu.Lock()
	if v, ok := c.rev[i][h]; ok && c.inc[i] == inc {
		c.mu.Unlock()
		return v, nil
	}
	c.mu.Unlock()
	key, keyed, err := c.readKey(ctx, s, i, h)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if keyed {
		if v, ok := c.byKey[key]; ok {
			o := c.objects[v]
			if o.hInc[i] != inc || o.h[i] == h { // not another object of this member with the same key
				o.h[i], o.hInc[i] = h, inc
				o.missing[i] = 0
				if c.inc[i] == inc {
					c.rev[i][h] = v
				}
				return v, nil
			}
		}
	}
	only := -1
	if !keyed {
		only = i
	}
	return c.addObject(i, inc, h, key, keyed, keyed, only, 0), nil
}

// addObject gives member i's object h a virtual handle; with c.mu held.
// keyed: its key was read (it can be found again); matchable: the same
// key on another member is the same object.
func (c *Conn) addObject(i int, inc, h uint64, key objKey, keyed, matchable bool, only int, session uint64) uint64 {
	n := len(c.links)
	o := &object{key: key, keyed: keyed, only: only, session: session,
		h: make([]uint64, n), hInc: make([]uint64, n), missing: make([]uint64, n)}
	o.h[i], o.hInc[i] = h, inc
	c.next++
	v := c.next
	c.objects[v] = o
	if matchable {
		if _, taken := c.byKey[key]; !taken {
			c.byKey[key] = v
		}
	}
	if c.inc[i] == inc {
		c.rev[i][h] = v
	}
	return v
}

// forget drops virtual object v; with c.mu held.
func (c *Conn) forget(v uint64, o *object) {
	delete(c.objects, v)
	if c.byKey[o.key] == v {
		delete(c.byKey, o.key)
	}
	for i, h := range o.h {
		if o.hInc[i] == c.inc[i] && c.rev[i][h] == v {
			delete(c.rev[i], h)
		}
	}
}

// readKey reads the class, ID and label of member i's object h.
func (c *Conn) readKey(ctx context.Context, s *session, i int, h uint64) (objKey, bool, error) {
	resp, _, err := c.call(ctx, i, s.realInc[i], wire.CallGetAttributeValue, &wire.GetAttributeValueRequest{
		Session: s.real[i], Object: h, Types: []uint64{wire.CKA_CLASS, wire.CKA_ID, wire.CKA_LABEL}})
	if err != nil {
		if Failed(err) {
			return objKey{}, false, err
		}
		return objKey{}, false, nil // unreadable: the object stays on this member
	}
	var k objKey
	keyed := false
	for _, r := range resp.(*wire.GetAttributeValueResponse).Values {
		if r.RV != wire.CKR_OK {
			continue
		}
		switch r.Attr.Type {
		case wire.CKA_CLASS:
			k.class, keyed = r.Attr.ULong, true
		case wire.CKA_ID:
			k.id = string(r.Attr.Bytes)
		case wire.CKA_LABEL:
			k.label = string(r.Attr.Bytes)
		}
	}
	return k, keyed, nil
}

// allowed says on which members every object req names may be.
func (c *Conn) allowed(req wire.Message) func(int) bool {
	var objs []*object
	c.mu.Lock()
	req.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HObject && *p != 0 {
			if o := c.objects[*p]; o != nil {
				objs = append(objs, o)
			}
		}
	})
	c.mu.Unlock()
	if len(objs) == 0 {
		return nil
	}
	return func(i int) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, o := range objs {
			if (o.only >= 0 && o.only != i) || (o.missing[i] != 0 && o.missing[i] == c.inc[i]) {
				return false
			}
		}
		return true
	}
}

// create makes an object (or two) through the group, as new_keys says.
// Session objects always stay on the member that made them.
func (c *Conn) create(ctx context.Context, s *session, d *wire.CallDesc, req wire.Message) (wire.Message, error) {
	token := c.makesTokenObject(req)
	if token && c.g.cfg.NewKeys != config.NewKeysPin && c.g.cfg.NewKeys != config.NewKeysReplicate {
		return nil, c.unsupported(d, `the group's new_keys is "refuse": a token object made here would exist on one member only`)
	}
	resp, i, err := c.anywhere(ctx, s, d, req)
	if err != nil {
		return nil, err
	}
	var session uint64
	if !token {
		session = s.v
	}
	var hs []*uint64
	resp.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HObject {
			hs = append(hs, p)
		}
	})
	keys := make([]objKey, len(hs))
	keyed := make([]bool, len(hs))
	if token {
		for n, p := range hs {
			keys[n], keyed[n], _ = c.readKey(ctx, s, i, *p)
		}
	}
	var copies [][]uint64 // per object, its handle on each member
	if token && c.g.cfg.NewKeys == config.NewKeysReplicate {
		real := make([]uint64, len(hs))
		for n, p := range hs {
			real[n] = *p
		}
		copies, err = c.replicate(ctx, s, i, d, req, real)
		if err != nil {
			c.log.Warn().Str("call", d.Name).Str("member", c.g.members[i].name).Msg("new token object not replicated: kept on the member that made it, as new_keys = \"pin\" would")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, p := range hs {
		if copies == nil {
			*p = c.addObject(i, s.realInc[i], *p, keys[n], keyed[n], false, i, session)
			continue
		}
		v := c.addObject(i, s.realInc[i], *p, keys[n], keyed[n], keyed[n], -1, 0)
		o := c.objects[v]
		for j, h := range copies[n] {
			if h == 0 {
				o.missing[j] = c.inc[j]
			} else if j != i {
				o.h[j], o.hInc[j] = h, s.realInc[j]
				if c.inc[j] == s.realInc[j] {
					c.rev[j][h] = v
				}
			}
		}
		*p = v
	}
	switch {
	case copies != nil:
		c.log.Info().Str("call", d.Name).Str("member", c.g.members[i].name).Msg("new token object made on every member that is up (new_keys = \"replicate\")")
	case token:
		c.log.Info().Str("call", d.Name).Str("member", c.g.members[i].name).Msg(`new token object kept on one member`)
	}
	return resp, nil
}

// makesTokenObject: the call makes a token object (CKA_TOKEN true in a
// template, or a copy of a token object that does not say otherwise).
func (c *Conn) makesTokenObject(req wire.Message) bool {
	token := func(t []wire.Attribute, dflt bool) bool {
		for _, a := range t {
			if a.Type == wire.CKA_TOKEN {
				return a.Bool
			}
		}
		return dflt
	}
	switch q := req.(type) {
	case *wire.CreateObjectRequest:
		return token(q.Template, false)
	case *wire.GenerateKeyRequest:
		return token(q.Template, false)
	case *wire.GenerateKeyPairRequest:
		return token(q.PublicKeyTemplate, false) || token(q.PrivateKeyTemplate, false)
	case *wire.UnwrapKeyRequest:
		return token(q.Template, false)
	case *wire.DeriveKeyRequest:
		return token(q.Template, false)
	case *wire.CopyObjectRequest:
		c.mu.Lock()
		o := c.objects[q.Object]
		src := o != nil && o.session == 0
		c.mu.Unlock()
		return token(q.Template, src)
	}
	return false
}

// everywhere runs C_DestroyObject or C_SetAttributeValue on every member
// that holds the object: the first answer is the call's; a member that is
// down misses the change, which the log says.
func (c *Conn) everywhere(ctx context.Context, s *session, d *wire.CallDesc, req wire.Message) (wire.Message, error) {
	var v uint64
	req.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HObject {
			v = *p
		}
	})
	allowed := c.allowed(req)
	var first wire.Message
	var firstErr error
	answered := -1
	for i, m := range c.g.members {
		if allowed != nil && !allowed(i) {
			continue
		}
		if m.down.Load() {
			c.log.Warn().Str("call", d.Name).Str("member", m.name).Msg("group member down: it misses this change")
			continue
		}
		resp, err := c.on(ctx, s, i, d.ID, req)
		if errors.Is(err, errSkip) {
			continue
		}
		if Failed(err) {
			c.g.markDown(i, err)
			c.log.Warn().Str("call", d.Name).Str("member", m.name).Msg("group member failed: it misses this change")
			continue
		}
		if answered < 0 {
			first, firstErr, answered = resp, err, i
			if err != nil {
				return nil, err // the module refused: no other member is changed
			}
			continue
		}
		if err != nil {
			c.log.Error().Str("call", d.Name).Str("member", m.name).Err(err).Msg("group members disagree: this one refused the change the first made")
		}
	}
	if answered < 0 {
		return nil, wire.CKR_OBJECT_HANDLE_INVALID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.objects[v]; o != nil {
		if d.ID == wire.CallDestroyObject {
			c.forget(v, o)
		} else if q, ok := req.(*wire.SetAttributeValueRequest); ok {
			c.rekey(v, o, q.Template)
		}
	}
	return first, firstErr
}

// rekey follows a change of an object's label or ID; with c.mu held.
func (c *Conn) rekey(v uint64, o *object, t []wire.Attribute) {
	k := o.key
	for _, a := range t {
		switch a.Type {
		case wire.CKA_ID:
			k.id = string(a.Bytes)
		case wire.CKA_LABEL:
			k.label = string(a.Bytes)
		}
	}
	if k == o.key {
		return
	}
	if c.byKey[o.key] == v {
		delete(c.byKey, o.key)
		if _, taken := c.byKey[k]; !taken {
			c.byKey[k] = v
		}
	}
	o.key = k
}
