package acl

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Set is one generation of the policies, swapped whole on reload. An empty
// Set means no access control: every connection may do everything (the
// unix socket's permissions decide who connects).
type Set struct {
	Policies []*Policy
}

// Enabled reports whether any [[client]] is configured.
func (s *Set) Enabled() bool { return s != nil && len(s.Policies) > 0 }

// nobody is the policy of a connection that no [[client]] matches any more
// (after a reload): it sees no slot.
var nobody = &Policy{Name: "(no matching [[client]])", Operations: []Operation{}, nobody: true}

// Pins gives the broker-held PIN of a virtual slot's token.
type Pins func(slot uint64) (wire.PIN, error)

// GuardConfig configures NewGuard.
type GuardConfig struct {
	Identity Identity
	Policies func() *Set // the current policies, read at every call
	Next     wire.Backend
	Pins     Pins
	Log      zerolog.Logger
	// Changes counts changes of object labels, IDs and handles made by
	// any connection of this process; a change empties every guard's
	// cache of what the objects filter read. nil: this connection's own
	// changes only.
	Changes *atomic.Uint64
	// Denied, if set, learns of each call the policy (its [[client]]
	// name) denied: the metrics count them.
	Denied func(client string, id wire.CallID)
}

// Guard is one connection's access control: a wire.Backend that checks
// each call against the connection's policy before Next sees it, and
// filters what Next answers. Handles are Next's (the level below the
// connection's virtual handles).
type Guard struct {
	cfg GuardConfig

	mu       sync.Mutex
	seen     *Set
	policy   *Policy
	changes  uint64 // cfg.Changes when objects was last emptied
	opening  int    // C_OpenSession calls under way, for max_sessions
	sessions map[uint64]sessionInfo
	objects  map[uint64]objectInfo // cache of what the objects filter reads
	created  map[uint64]bool       // objects this connection made
	loggedIn map[uint64]bool       // slots a broker login was made on
}

type sessionInfo struct {
	slot uint64
}

type objectInfo struct {
	class uint64 // ^0 when unknown
	label string
	id    []byte
}

func (o objectInfo) isKey() bool {
	return o.class == wire.CKO_PRIVATE_KEY || o.class == wire.CKO_SECRET_KEY || o.class == wire.CKO_PUBLIC_KEY
}

// NewGuard returns the guard of one connection.
func NewGuard(cfg GuardConfig) *Guard {
	return &Guard{cfg: cfg, sessions: map[uint64]sessionInfo{}, objects: map[uint64]objectInfo{},
		created: map[uint64]bool{}, loggedIn: map[uint64]bool{}}
}

// Policy returns the policy the connection has now: nil when access
// control is off.
func (g *Guard) Policy() *Policy {
	s := g.cfg.Policies()
	if !s.Enabled() {
		return nil
	}
	g.mu.Lock()
	var hidden []uint64
	defer func() {
		g.mu.Unlock()
		g.closeHidden(hidden)
	}()
	if s != g.seen {
		g.seen = s
		p := Match(s.Policies, g.cfg.Identity)
		if p == nil {
			p = nobody
		}
		if g.policy != nil && p != g.policy {
			g.cfg.Log.Info().Str("identity", g.cfg.Identity.String()).Str("client", p.Name).Msg("policy reloaded: the connection now has another [[client]]")
		}
		g.policy = p
		clear(g.objects) // patterns may have changed
		for h, s := range g.sessions {
			if !p.SlotVisible(s.slot) {
				hidden = append(hidden, h)
			}
		}
	}
	return g.policy
}

// closeHidden closes, in the module, the sessions on slots a reloaded
// policy hides: with a shared module a session left open would keep the
// token logged in for other clients. The guard keeps them, so that their
// handles answer CKR_SESSION_HANDLE_INVALID (a denial) until the client
// closes them.
func (g *Guard) closeHidden(hidden []uint64) {
	for _, h := range hidden {
		g.cfg.Next.CloseSession(context.Background(), &wire.CloseSessionRequest{Session: h})
	}
	if len(hidden) > 0 {
		g.cfg.Log.Info().Int("sessions", len(hidden)).Msg("policy reloaded: closed the sessions on slots it hides")
	}
}

// What each call needs: the operation, and whether its object is a key by
// the function's nature (a denial then answers CKR_KEY_FUNCTION_NOT_PERMITTED).
var callOps = map[wire.CallID]struct {
	op  Operation
	key bool
}{
	wire.CallEncryptInit:        {OpEncrypt, true},
	wire.CallDecryptInit:        {OpDecrypt, true},
	wire.CallDigestInit:         {OpDigest, false},
	wire.CallDigestKey:          {OpDigest, true},
	wire.CallSignInit:           {OpSign, true},
	wire.CallSignRecoverInit:    {OpSign, true},
	wire.CallVerifyInit:         {OpVerify, true},
	wire.CallVerifyRecoverInit:  {OpVerify, true},
	wire.CallMessageEncryptInit: {OpEncrypt, true},
	wire.CallMessageDecryptInit: {OpDecrypt, true},
	wire.CallMessageSignInit:    {OpSign, true},
	wire.CallMessageVerifyInit:  {OpVerify, true},
	wire.CallGenerateKey:        {OpGenerate, false},
	wire.CallGenerateKeyPair:    {OpGenerate, false},
	wire.CallWrapKey:            {OpWrap, true},
	wire.CallUnwrapKey:          {OpUnwrap, true},
	wire.CallDeriveKey:          {OpDerive, true},
	wire.CallCreateObject:       {OpCreate, false},
	wire.CallCopyObject:         {OpCopy, false},
	wire.CallDestroyObject:      {OpDestroy, false},
	wire.CallSetAttributeValue:  {OpSetAttribute, false},
	wire.CallGetAttributeValue:  {OpRead, false},
	wire.CallGetObjectSize:      {OpRead, false},
	wire.CallFindObjectsInit:    {OpFind, false},
	wire.CallSeedRandom:         {OpRandom, false},
	wire.CallGenerateRandom:     {OpRandom, false},
	wire.CallInitToken:          {OpInitToken, false},
	wire.CallInitPIN:            {OpInitPIN, false},
	wire.CallSetPIN:             {OpSetPIN, false},
}

// writes are the calls a read_only client may not make.
var writes = []wire.CallID{wire.CallCreateObject, wire.CallCopyObject, wire.CallDestroyObject,
	wire.CallSetAttributeValue, wire.CallGenerateKey, wire.CallGenerateKeyPair, wire.CallUnwrapKey,
	wire.CallDeriveKey, wire.CallInitPIN, wire.CallSetPIN}

// mechanism returns the mechanism a request names.
func mechanism(req wire.Message) (uint64, bool) {
	if q, ok := req.(*wire.GetMechanismInfoRequest); ok {
		return q.MechType, true
	}
	if m := wire.MechanismOf(req); m != nil {
		return m.Type, true
	}
	return 0, false
}

// denial is a refused call, logged once where it is returned.
type denial struct {
	rule string
	rv   wire.RV
	slot uint64
	obj  *objectInfo
}

// Call is the guard as a wire.BackendFunc.
func (g *Guard) Call(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
	p := g.Policy()
	if p == nil {
		return wire.Lookup(id).Invoke(ctx, g.cfg.Next, req)
	}
	resp, d, err := g.call(ctx, p, id, req)
	if d != nil {
		// The connection's logger names the identity and its [[client]]
		// at connect; a reload may since have given it another.
		e := g.cfg.Log.Warn().Str("policy", p.Name).Str("call", id.String()).Uint64("slot", d.slot).Str("rule", d.rule).Str("rv", d.rv.String())
		if d.obj != nil {
			e = e.Str("label", d.obj.label).Str("id", hex.EncodeToString(d.obj.id))
		}
		e.Msg("denied")
		if g.cfg.Denied != nil {
			g.cfg.Denied(p.Name, id)
		}
		return nil, d.rv
	}
	return resp, err
}

func (g *Guard) call(ctx context.Context, p *Policy, id wire.CallID, req wire.Message) (wire.Message, *denial, error) {
	desc := wire.Lookup(id)
	// Handles first: every slot, session and object the call names must
	// be visible. Next rewrites handles in place, so keep them.
	var slot, sess uint64
	var objs, saved []uint64
	var d *denial
	req.Handles(func(k wire.HandleKind, h *uint64) {
		saved = append(saved, *h)
		switch k {
		case wire.HSlot:
			slot = *h
			if d == nil && !p.SlotVisible(*h) {
				d = &denial{rule: "slots", rv: wire.CKR_SLOT_ID_INVALID, slot: *h}
			}
		case wire.HSession:
			sess = *h
			g.mu.Lock()
			s, ok := g.sessions[*h]
			g.mu.Unlock()
			if ok {
				slot = s.slot
				// Closing is always allowed: it frees what the module holds.
				if d == nil && !p.SlotVisible(s.slot) && id != wire.CallCloseSession {
					d = &denial{rule: "slots", rv: wire.CKR_SESSION_HANDLE_INVALID, slot: s.slot}
				}
			}
		case wire.HObject:
			objs = append(objs, *h)
		}
	})
	if d != nil {
		return nil, d, nil
	}
	for _, o := range objs {
		if o == 0 || !p.Filters() {
			continue // CK_INVALID_HANDLE: the vendor answers it itself
		}
		info, err := g.object(ctx, p, sess, o)
		if err != nil {
			return nil, nil, err
		}
		if !p.ObjectVisible(info.label, info.id) {
			return nil, &denial{rule: "objects", rv: wire.CKR_OBJECT_HANDLE_INVALID, slot: slot, obj: &info}, nil
		}
	}
	if m, ok := mechanism(req); ok && !p.MechanismAllowed(m) {
		return nil, &denial{rule: "mechanisms: " + wire.MechanismName(m), rv: wire.CKR_MECHANISM_INVALID, slot: slot}, nil
	}
	if d := g.checkOperation(ctx, p, id, req, slot, sess, objs); d != nil {
		return nil, d, nil
	}
	if p.ReadOnly {
		switch {
		case id == wire.CallInitToken:
			return nil, &denial{rule: "read_only", rv: wire.CKR_TOKEN_WRITE_PROTECTED, slot: slot}, nil
		case slices.Contains(writes, id):
			return nil, &denial{rule: "read_only", rv: wire.CKR_SESSION_READ_ONLY, slot: slot}, nil
		}
	}
	if p.Guarded() {
		if d := g.extraction(ctx, req, slot, sess); d != nil {
			return nil, d, nil
		}
	}
	if q, ok := req.(*wire.SetAttributeValueRequest); ok && p.Filters() {
		if d := g.relabel(ctx, p, q, slot, sess); d != nil {
			return nil, d, nil
		}
	}

	switch q := req.(type) {
	case *wire.GetSlotListRequest:
		resp, err := g.cfg.Next.GetSlotList(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		resp.SlotList = slices.DeleteFunc(resp.SlotList, func(s uint64) bool { return !p.SlotVisible(s) })
		return resp, nil, nil
	case *wire.GetTokenInfoRequest:
		resp, err := g.cfg.Next.GetTokenInfo(ctx, q)
		if err == nil && p.ReadOnly {
			resp.Info.Flags |= wire.CKF_WRITE_PROTECTED
		}
		return resp, nil, err
	case *wire.GetMechanismListRequest:
		resp, err := g.cfg.Next.GetMechanismList(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		resp.MechanismList = slices.DeleteFunc(resp.MechanismList, func(m uint64) bool { return !p.MechanismAllowed(m) })
		return resp, nil, nil
	case *wire.WaitForSlotEventRequest:
		for {
			resp, err := g.cfg.Next.WaitForSlotEvent(ctx, q)
			if err != nil || p.SlotVisible(resp.Slot) {
				return resp, nil, err
			}
		}
	case *wire.OpenSessionRequest:
		if p.ReadOnly && q.Flags&wire.CKF_RW_SESSION != 0 {
			return nil, &denial{rule: "read_only", rv: wire.CKR_TOKEN_WRITE_PROTECTED, slot: slot}, nil
		}
		// Count the opens under way too: sessions opened from many
		// threads at once must not pass the bound together.
		g.mu.Lock()
		if p.MaxSessions > 0 && len(g.sessions)+g.opening >= p.MaxSessions {
			g.mu.Unlock()
			return nil, &denial{rule: "max_sessions", rv: wire.CKR_SESSION_COUNT, slot: slot}, nil
		}
		g.opening++
		g.mu.Unlock()
		resp, err := g.cfg.Next.OpenSession(ctx, q)
		g.mu.Lock()
		g.opening--
		if err == nil {
			g.sessions[resp.Session] = sessionInfo{slot: slot}
		}
		g.mu.Unlock()
		if err != nil {
			return nil, nil, err
		}
		return resp, nil, nil
	case *wire.CloseSessionRequest:
		resp, err := g.cfg.Next.CloseSession(ctx, q)
		if err == nil || errors.Is(err, wire.CKR_SESSION_HANDLE_INVALID) {
			g.closed(func(h uint64, _ sessionInfo) bool { return h == sess }, slot)
		}
		return resp, nil, err
	case *wire.CloseAllSessionsRequest:
		resp, err := g.cfg.Next.CloseAllSessions(ctx, q)
		if err == nil {
			g.closed(func(_ uint64, s sessionInfo) bool { return s.slot == slot }, slot)
		}
		return resp, nil, err
	case *wire.LoginRequest:
		return g.login(ctx, p, q, slot, sess)
	case *wire.LoginUserRequest:
		if p.Login == LoginBroker {
			// The broker holds the token's PIN for C_Login; a named
			// user's login is not its to make.
			return nil, &denial{rule: "login = broker: C_LoginUser", rv: wire.CKR_FUNCTION_NOT_SUPPORTED, slot: slot}, nil
		}
	case *wire.LogoutRequest:
		resp, err := g.cfg.Next.Logout(ctx, q)
		if err == nil {
			g.mu.Lock()
			delete(g.loggedIn, slot)
			g.mu.Unlock()
		}
		return resp, nil, err
	case *wire.FindObjectsRequest:
		if !p.Filters() {
			break
		}
		return g.findObjects(ctx, p, q.MaxObjectCount, sess)
	case *wire.DestroyObjectRequest:
		resp, err := g.cfg.Next.DestroyObject(ctx, q)
		if err == nil {
			g.changed(objs...)
		}
		return resp, nil, err
	case *wire.SetAttributeValueRequest:
		resp, err := g.cfg.Next.SetAttributeValue(ctx, q)
		g.changed(objs...)
		return resp, nil, err
	case *wire.UnwrapKeyRequest:
		if p.Guarded() {
			q.Template = forceSensitive(q.Template)
		}
	case *wire.DeriveKeyRequest:
		if p.Guarded() {
			q.Template = forceSensitive(q.Template)
		}
	}
	resp, err := g.relogin(ctx, p, desc, req, saved, slot, sess)
	if err != nil {
		return nil, nil, err
	}
	if d := g.adopt(ctx, p, id, resp, slot, sess); d != nil {
		return nil, d, nil
	}
	return resp, nil, nil
}

// closed forgets the sessions a close ended. The last session of a slot
// ends the application's login there (spec 5.6), so the broker's login
// is not made again for it.
func (g *Guard) closed(ended func(uint64, sessionInfo) bool, slot uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	maps.DeleteFunc(g.sessions, ended)
	for _, s := range g.sessions {
		if s.slot == slot {
			return
		}
	}
	delete(g.loggedIn, slot)
}

// checkOperation applies the operations list.
func (g *Guard) checkOperation(ctx context.Context, p *Policy, id wire.CallID, req wire.Message, slot, sess uint64, objs []uint64) *denial {
	if q, ok := req.(*wire.LoginRequest); ok {
		if q.UserType == wire.CKU_SO && !p.Allows(OpLoginSO) {
			return &denial{rule: "operations: login-so", rv: wire.CKR_ACTION_PROHIBITED, slot: slot}
		}
		return nil
	}
	c, ok := callOps[id]
	if !ok {
		return nil
	}
	if p.Allows(c.op) || (c.op == OpFind && p.Allows(OpRead)) {
		return nil
	}
	d := &denial{rule: "operations: " + string(c.op), rv: wire.CKR_ACTION_PROHIBITED, slot: slot}
	if len(objs) > 0 && objs[0] != 0 {
		if info, err := g.object(ctx, p, sess, objs[0]); err == nil {
			d.obj = &info
			if c.key || info.isKey() {
				d.rv = wire.CKR_KEY_FUNCTION_NOT_PERMITTED
			}
		} else if c.key {
			d.rv = wire.CKR_KEY_FUNCTION_NOT_PERMITTED
		}
	}
	return d
}

// extraction applies the key-extraction guards: no template may make a
// key extractable or not sensitive, and C_WrapKey needs a wrapping key no
// one knows (see unknowable).
func (g *Guard) extraction(ctx context.Context, req wire.Message, slot, sess uint64) *denial {
	// A key that exists gains no CKA_DECRYPT: it may be a wrapping key,
	// and C_Decrypt would undo its wraps.
	_, set := req.(*wire.SetAttributeValueRequest)
	_, cp := req.(*wire.CopyObjectRequest)
	for _, t := range wire.Templates(req) {
		for _, a := range t {
			if a.Kind != wire.AttrBool {
				continue
			}
			if (a.Type == wire.CKA_EXTRACTABLE && a.Bool) || (a.Type == wire.CKA_SENSITIVE && !a.Bool) || (a.Type == wire.CKA_DECRYPT && a.Bool && (set || cp)) {
				return &denial{rule: "key-extraction guard: " + wire.AttributeName(a.Type), rv: wire.CKR_ATTRIBUTE_READ_ONLY, slot: slot}
			}
		}
	}
	if q, ok := req.(*wire.WrapKeyRequest); ok && !g.unknowable(ctx, sess, q) {
		return &denial{rule: "key-extraction guard: a key the client made, whose value left the token, or that decrypts, wraps no key but the connection's own",
			rv: wire.CKR_KEY_FUNCTION_NOT_PERMITTED, slot: slot}
	}
	return nil
}

// unknowable: C_WrapKey may go on. The wrapping key must not decrypt
// (the client would undo the wrap with C_Decrypt). A key this connection
// made may then be wrapped by it; any other key only if no one outside
// the token can know the wrapping key's value: generated there
// (CKA_LOCAL), always sensitive and never extractable, or marked
// CKA_TRUSTED by the SO. A key imported with C_CreateObject or unwrapped
// (by this client, maybe in an earlier connection, which the broker
// cannot tell) would let its maker decrypt what it wraps.
func (g *Guard) unknowable(ctx context.Context, sess uint64, q *wire.WrapKeyRequest) bool {
	resp, err := g.cfg.Next.GetAttributeValue(ctx, &wire.GetAttributeValueRequest{Session: sess, Object: q.WrappingKey,
		Types: []uint64{wire.CKA_DECRYPT, wire.CKA_LOCAL, wire.CKA_ALWAYS_SENSITIVE, wire.CKA_NEVER_EXTRACTABLE, wire.CKA_TRUSTED}})
	if err != nil {
		return false
	}
	v := map[uint64]bool{}
	for _, a := range resp.Values {
		if a.RV == wire.CKR_OK && a.Attr.Kind == wire.AttrBool {
			v[a.Attr.Type] = a.Attr.Bool
		}
	}
	if v[wire.CKA_DECRYPT] {
		return false
	}
	g.mu.Lock()
	mine := g.created[q.Key]
	g.mu.Unlock()
	return mine || v[wire.CKA_TRUSTED] || (v[wire.CKA_LOCAL] && v[wire.CKA_ALWAYS_SENSITIVE] && v[wire.CKA_NEVER_EXTRACTABLE])
}

// relabel refuses a change of CKA_LABEL or CKA_ID that would hide the
// object from the client making it.
func (g *Guard) relabel(ctx context.Context, p *Policy, q *wire.SetAttributeValueRequest, slot, sess uint64) *denial {
	info, err := g.object(ctx, p, sess, q.Object)
	if err != nil {
		return nil // the call answers the same error
	}
	after := info
	for _, a := range q.Template {
		switch a.Type {
		case wire.CKA_LABEL:
			after.label = string(a.Bytes)
		case wire.CKA_ID:
			after.id = a.Bytes
		}
	}
	if p.ObjectVisible(after.label, after.id) {
		return nil
	}
	return &denial{rule: "objects: the new label or ID would hide the object", rv: wire.CKR_ACTION_PROHIBITED, slot: slot, obj: &info}
}

// forceSensitive makes a new secret or private key sensitive.
func forceSensitive(t []wire.Attribute) []wire.Attribute {
	for i := range t {
		if t[i].Type == wire.CKA_SENSITIVE {
			t[i] = wire.Attribute{Type: wire.CKA_SENSITIVE, Kind: wire.AttrBool, Bool: true}
			return t
		}
	}
	return append(t, wire.Attribute{Type: wire.CKA_SENSITIVE, Kind: wire.AttrBool, Bool: true})
}

// login: a client with login = "broker" logs in with the token's PIN,
// whatever it sent.
func (g *Guard) login(ctx context.Context, p *Policy, q *wire.LoginRequest, slot, sess uint64) (wire.Message, *denial, error) {
	g.mu.Lock()
	_, known := g.sessions[sess]
	g.mu.Unlock()
	// An unknown session goes on as it is: the module answers it.
	broker := p.Login == LoginBroker && q.UserType != wire.CKU_SO && known
	if broker {
		pin, err := g.cfg.Pins(slot)
		if err != nil {
			g.cfg.Log.Error().Err(err).Uint64("slot", slot).Msg("broker-held PIN unavailable")
			return nil, nil, wire.CKR_DEVICE_ERROR
		}
		q.Pin = pin
	}
	resp, err := g.cfg.Next.Login(ctx, q)
	if broker && (err == nil || errors.Is(err, wire.CKR_USER_ALREADY_LOGGED_IN)) && q.UserType == wire.CKU_USER {
		g.mu.Lock()
		g.loggedIn[slot] = true
		g.mu.Unlock()
	}
	return resp, nil, err
}

// relogin makes the call; for a client whose broker login was lost (a
// token reset), it logs in again once and repeats the call, with the
// request's handles as they were before Next rewrote them (saved).
func (g *Guard) relogin(ctx context.Context, p *Policy, desc *wire.CallDesc, req wire.Message, saved []uint64, slot, sess uint64) (wire.Message, error) {
	resp, err := desc.Invoke(ctx, g.cfg.Next, req)
	if !errors.Is(err, wire.CKR_USER_NOT_LOGGED_IN) || p.Login != LoginBroker || sess == 0 {
		return resp, err
	}
	g.mu.Lock()
	was := g.loggedIn[slot]
	g.mu.Unlock()
	if !was {
		return resp, err
	}
	pin, perr := g.cfg.Pins(slot)
	if perr != nil {
		return resp, err
	}
	if _, lerr := g.cfg.Next.Login(ctx, &wire.LoginRequest{Session: sess, UserType: wire.CKU_USER, Pin: pin}); lerr != nil && !errors.Is(lerr, wire.CKR_USER_ALREADY_LOGGED_IN) {
		g.cfg.Log.Warn().Err(lerr).Uint64("slot", slot).Msg("broker login lost and logging in again failed")
		return resp, err
	}
	g.cfg.Log.Info().Uint64("slot", slot).Msg("broker login lost: logged in again")
	i := 0
	req.Handles(func(_ wire.HandleKind, h *uint64) { *h = saved[i]; i++ })
	return desc.Invoke(ctx, g.cfg.Next, req)
}

// adopt records the objects a call made. An object the client could not
// see (its label or ID outside the objects filter) is destroyed again:
// the client may not make what it cannot use.
func (g *Guard) adopt(ctx context.Context, p *Policy, id wire.CallID, resp wire.Message, slot, sess uint64) *denial {
	if _, ok := callOps[id]; !ok || id == wire.CallFindObjectsInit {
		return nil
	}
	var made []uint64
	resp.Handles(func(k wire.HandleKind, h *uint64) {
		if k == wire.HObject && *h != 0 {
			made = append(made, *h)
		}
	})
	if len(made) == 0 {
		return nil
	}
	var hidden *objectInfo
	if p.Filters() {
		for _, o := range made {
			info, err := g.object(ctx, p, sess, o)
			if err != nil || !p.ObjectVisible(info.label, info.id) {
				hidden = &info
			}
		}
	}
	if hidden != nil {
		for _, o := range made {
			g.cfg.Next.DestroyObject(ctx, &wire.DestroyObjectRequest{Session: sess, Object: o})
		}
		g.forget(made...)
		return &denial{rule: "objects: the new object would be hidden from its maker", rv: wire.CKR_ACTION_PROHIBITED, slot: slot, obj: hidden}
	}
	g.mu.Lock()
	for _, o := range made {
		g.created[o] = true
	}
	g.mu.Unlock()
	return nil
}

// findObjects answers C_FindObjects with visible objects only. An answer
// may hold fewer handles than asked for; only an empty one means the end
// (spec 5.7, C_FindObjects), so Next is asked again only while all it
// found was hidden.
func (g *Guard) findObjects(ctx context.Context, p *Policy, max, sess uint64) (wire.Message, *denial, error) {
	out := &wire.FindObjectsResponse{Objects: []uint64{}}
	for max > 0 && len(out.Objects) == 0 {
		resp, err := g.cfg.Next.FindObjects(ctx, &wire.FindObjectsRequest{Session: sess, MaxObjectCount: max})
		if err != nil {
			return nil, nil, err
		}
		if len(resp.Objects) == 0 {
			break
		}
		for _, o := range resp.Objects {
			info, err := g.object(ctx, p, sess, o)
			if err == nil && p.ObjectVisible(info.label, info.id) {
				out.Objects = append(out.Objects, o)
			}
		}
	}
	return out, nil, nil
}

// object returns what the objects filter needs of an object, read once
// per connection (and again after the client changes it).
func (g *Guard) object(ctx context.Context, p *Policy, sess, obj uint64) (objectInfo, error) {
	g.mu.Lock()
	if c := g.cfg.Changes; c != nil && c.Load() != g.changes {
		g.changes = c.Load()
		clear(g.objects) // another connection changed an object
	}
	info, ok := g.objects[obj]
	g.mu.Unlock()
	if ok {
		return info, nil
	}
	resp, err := g.cfg.Next.GetAttributeValue(ctx, &wire.GetAttributeValueRequest{Session: sess, Object: obj,
		Types: []uint64{wire.CKA_CLASS, wire.CKA_LABEL, wire.CKA_ID}})
	if err != nil && !errors.Is(err, wire.CKR_ATTRIBUTE_TYPE_INVALID) && !errors.Is(err, wire.CKR_ATTRIBUTE_SENSITIVE) {
		return objectInfo{}, err
	}
	info = objectInfo{class: ^uint64(0)}
	if resp != nil {
		for _, v := range resp.Values {
			if v.RV != wire.CKR_OK {
				continue
			}
			switch v.Attr.Type {
			case wire.CKA_CLASS:
				info.class = v.Attr.ULong
			case wire.CKA_LABEL:
				info.label = string(v.Attr.Bytes)
			case wire.CKA_ID:
				info.id = slices.Clone(v.Attr.Bytes)
			}
		}
	}
	g.mu.Lock()
	g.objects[obj] = info
	g.mu.Unlock()
	return info, nil
}

// changed records a change of objects this connection made.
func (g *Guard) changed(objs ...uint64) {
	g.forget(objs...)
	if c := g.cfg.Changes; c != nil {
		c.Add(1)
	}
}

func (g *Guard) forget(objs ...uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, o := range objs {
		delete(g.objects, o)
	}
}
