// Package shared serves many connections from one instance of a vendor
// module, giving each connection a virtual PKCS #11 application: its own
// login state, its own session objects, its own sessions to close.
//
// PKCS #11 keeps login state per application: two processes that load a
// module each log in (or not) on their own. A module instance shared by
// every connection has one real login per token, so the Instance logs the
// token in once and keeps, per connection (App), whether that application
// has logged in. What an application may not see or do without its own
// login, the App refuses or filters with the codes the vendor would give.
// What a shared instance cannot hide is listed in wire/PROTOCOL.md ("What
// a shared module cannot hide").
package shared

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Instance is one vendor module instance and the real state of its
// tokens, shared by the Apps of every connection. Handles are the
// module's own.
type Instance struct {
	next        wire.Backend
	pool        *Pool // nil: a real session per virtual one
	log         zerolog.Logger
	maxFailures int
	macKey      [32]byte

	mu       sync.Mutex
	tokens   map[uint64]*token // by the module's slot ID
	apps     map[*App]struct{}
	owners   map[uint64]owner // session objects: who made them
	private  map[uint64]bool  // CKA_PRIVATE of objects checked so far
	failures map[string]int   // wrong PINs in a row, per identity
	sessions map[uint64]*App  // every real session, by handle
	// notLoggedIn is the module's answer to C_Logout without a login
	// (spec: CKR_USER_NOT_LOGGED_IN; SoftHSM2: CKR_OK), learnt on the
	// first session opened while its token had no login; nil: not yet.
	notLoggedIn *error
}

// token is the real login state of one token.
type token struct {
	login  sync.Mutex // orders real C_Login and C_Logout
	user   bool       // the real token has a user login
	so     *App       // the App logged in as SO, if any
	pinMAC []byte     // HMAC of the PIN the token accepted
	users  int        // Apps logged in as user
}

type owner struct {
	app  *App
	sess uint64
}

// Config configures New.
type Config struct {
	Next wire.Backend
	Log  zerolog.Logger
	// MaxPINFailures locks an identity out (CKR_PIN_LOCKED) after this
	// many wrong PINs in a row; 0: never.
	MaxPINFailures int
	// MaxRealSessions, when above 0, pools the module's sessions (Pool):
	// a call waits up to Wait for one to come free.
	MaxRealSessions int
	Wait            time.Duration
}

// New returns the shared state of one module instance.
func New(cfg Config) *Instance {
	in := &Instance{next: cfg.Next, log: cfg.Log, maxFailures: cfg.MaxPINFailures,
		tokens: map[uint64]*token{}, apps: map[*App]struct{}{}, owners: map[uint64]owner{},
		private: map[uint64]bool{}, failures: map[string]int{}, sessions: map[uint64]*App{}}
	if cfg.MaxRealSessions > 0 {
		in.pool = NewPool(cfg.Next, cfg.MaxRealSessions, cfg.Wait, cfg.Log)
		in.next = wire.BackendFunc(in.pool.Call)
	}
	if _, err := rand.Read(in.macKey[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return in
}

func (in *Instance) token(slot uint64) *token {
	in.mu.Lock()
	defer in.mu.Unlock()
	t := in.tokens[slot]
	if t == nil {
		t = &token{}
		in.tokens[slot] = t
	}
	return t
}

// mac is the PIN's HMAC. SHA-256 buffers an input shorter than its 64-byte
// block in the hash's state, which outlives the call in freed memory (a
// core of the broker held the PIN there); so the PIN goes in whole blocks,
// zero-padded, its length in the last 8 bytes, and the copy is zeroed.
func (in *Instance) mac(pin wire.PIN) []byte {
	const block = 64
	buf := make([]byte, (len(pin)+8+block-1)/block*block)
	defer clear(buf)
	copy(buf, pin)
	binary.BigEndian.PutUint64(buf[len(buf)-8:], uint64(len(pin)))
	m := hmac.New(sha256.New, in.macKey[:])
	m.Write(buf)
	return m.Sum(nil)
}

// Reset forgets every real session and login: the module instance was
// replaced (its worker died). The Apps' sessions are gone with it.
func (in *Instance) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	clear(in.tokens)
	clear(in.owners)
	clear(in.private)
	clear(in.sessions)
	if in.pool != nil {
		in.pool.reset()
	}
	for a := range in.apps {
		a.mu.Lock()
		clear(a.sessions)
		clear(a.login)
		a.mu.Unlock()
	}
}

// Counts are the sessions the connections have open, the real sessions
// of the module that carry them, and the connections.
func (in *Instance) Counts() (virtual, real, apps int) {
	in.mu.Lock()
	virtual, real, apps = len(in.sessions), len(in.sessions), len(in.apps)
	in.mu.Unlock()
	if in.pool != nil {
		real, _ = in.pool.Counts()
	}
	return virtual, real, apps
}

// loginState is an App's login on one token.
type loginState int

const (
	public loginState = iota
	user
	so
)

// App is one connection's virtual application on a shared Instance.
type App struct {
	in  *Instance
	who string // the identity wrong PINs are counted against
	log zerolog.Logger

	mu       sync.Mutex
	sessions map[uint64]session // by real handle
	login    map[uint64]loginState
}

type session struct {
	slot uint64
	rw   bool
}

// App returns the virtual application of one connection; who names its
// identity (wrong PINs are counted per identity).
func (in *Instance) App(who string, log zerolog.Logger) *App {
	a := &App{in: in, who: who, log: log, sessions: map[uint64]session{}, login: map[uint64]loginState{}}
	in.mu.Lock()
	in.apps[a] = struct{}{}
	in.mu.Unlock()
	return a
}

// Close ends the application: its sessions are closed (their operations
// and session objects end with them) and its logins end.
func (a *App) Close(ctx context.Context) {
	a.mu.Lock()
	var open []uint64
	for h := range a.sessions {
		open = append(open, h)
	}
	a.mu.Unlock()
	for _, h := range open {
		a.closeSession(ctx, h)
	}
	a.in.mu.Lock()
	delete(a.in.apps, a)
	a.in.mu.Unlock()
}

func (a *App) state(slot uint64) loginState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.login[slot]
}

func (a *App) session(h uint64) (session, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[h]
	return s, ok
}

// Call is the App as a wire.Backend (wire.BackendFunc).
func (a *App) Call(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
	d := wire.Lookup(id)
	var s session
	var sess uint64
	if d.Session {
		req.Handles(func(k wire.HandleKind, h *uint64) {
			if k == wire.HSession {
				sess = *h
			}
		})
		var ok bool
		if s, ok = a.session(sess); !ok {
			return nil, wire.CKR_SESSION_HANDLE_INVALID
		}
	}
	switch q := req.(type) {
	case *wire.OpenSessionRequest:
		return a.openSession(ctx, q)
	case *wire.CloseSessionRequest:
		return &wire.CloseSessionResponse{}, a.closeSession(ctx, q.Session)
	case *wire.CloseAllSessionsRequest:
		a.mu.Lock()
		var mine []uint64
		for h, s := range a.sessions {
			if s.slot == q.SlotID {
				mine = append(mine, h)
			}
		}
		a.mu.Unlock()
		for _, h := range mine {
			a.closeSession(ctx, h)
		}
		return &wire.CloseAllSessionsResponse{}, nil
	case *wire.GetSessionInfoRequest:
		return a.sessionInfo(ctx, q, s)
	case *wire.LoginRequest:
		return a.loginCall(ctx, q, s)
	case *wire.LoginUserRequest:
		// Logins are virtual here, kept per application; a named user's
		// login would be the token's, for every application at once.
		a.in.log.Warn().Msg("C_LoginUser on a shared module: not supported (CKR_FUNCTION_NOT_SUPPORTED)")
		return nil, wire.CKR_FUNCTION_NOT_SUPPORTED
	case *wire.LogoutRequest:
		return &wire.LogoutResponse{}, a.logout(ctx, q.Session, s.slot)
	case *wire.InitTokenRequest:
		if err := a.exclusive(q.SlotID); err != nil {
			return nil, err
		}
	case *wire.InitPINRequest:
		if a.state(s.slot) != so {
			return nil, wire.CKR_USER_NOT_LOGGED_IN
		}
	case *wire.SetPINRequest:
		if err := a.exclusive(s.slot); err != nil {
			return nil, err
		}
	case *wire.FindObjectsRequest:
		return a.findObjects(ctx, q, s)
	}
	if err := a.checkObjects(ctx, id, req, sess, s); err != nil {
		return nil, err
	}
	if err := a.checkTemplates(req, s); err != nil {
		return nil, err
	}
	var newPIN []byte
	if q, ok := req.(*wire.SetPINRequest); ok {
		newPIN = a.in.mac(q.NewPin) // before the call, as in loginCall
	}
	resp, err := d.Invoke(ctx, a.in.next, req)
	if errors.Is(err, wire.CKR_USER_NOT_LOGGED_IN) && d.Session && a.state(s.slot) == user {
		a.in.loginLost(s.slot)
	}
	if err != nil {
		return nil, err
	}
	switch q := req.(type) {
	case *wire.DestroyObjectRequest:
		a.in.forget(q.Object, true)
	case *wire.SetAttributeValueRequest:
		a.in.forget(q.Object, false)
	case *wire.SetPINRequest:
		t := a.in.token(s.slot)
		t.login.Lock()
		if t.user {
			t.pinMAC = newPIN
		}
		t.login.Unlock()
	}
	if creates[id] {
		if err := a.adopt(ctx, resp, sess, s); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// creates are the calls whose answer holds objects they made.
var creates = map[wire.CallID]bool{
	wire.CallCreateObject: true, wire.CallCopyObject: true, wire.CallGenerateKey: true,
	wire.CallGenerateKeyPair: true, wire.CallUnwrapKey: true, wire.CallDeriveKey: true,
}

// manages are the calls on an object itself rather than uses of a key: a
// private object an application may not see is, to them, no object.
var manages = map[wire.CallID]bool{
	wire.CallGetAttributeValue: true, wire.CallSetAttributeValue: true, wire.CallGetObjectSize: true,
	wire.CallCopyObject: true, wire.CallDestroyObject: true,
}

func (a *App) openSession(ctx context.Context, q *wire.OpenSessionRequest) (wire.Message, error) {
	t := a.in.token(q.SlotID)
	a.in.mu.Lock()
	soElsewhere := t.so != nil && t.so != a
	a.in.mu.Unlock()
	if soElsewhere && q.Flags&wire.CKF_RW_SESSION == 0 {
		// The vendor's answer while its SO is logged in (spec 5.6).
		return nil, wire.CKR_SESSION_READ_WRITE_SO_EXISTS
	}
	resp, err := a.in.next.OpenSession(ctx, q)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.sessions[resp.Session] = session{slot: q.SlotID, rw: q.Flags&wire.CKF_RW_SESSION != 0}
	a.mu.Unlock()
	a.in.mu.Lock()
	a.in.sessions[resp.Session] = a
	learn := a.in.notLoggedIn == nil
	a.in.mu.Unlock()
	if learn {
		a.in.learnLogout(ctx, t, resp.Session)
	}
	return resp, nil
}

// learnLogout asks the module, on a session of a token without a login,
// what C_Logout answers then: an application that has not logged in gets
// the same answer while other applications hold the token's real login.
func (in *Instance) learnLogout(ctx context.Context, t *token, sess uint64) {
	t.login.Lock()
	defer t.login.Unlock()
	in.mu.Lock()
	busy := t.user || t.so != nil || in.notLoggedIn != nil
	in.mu.Unlock()
	if busy {
		return
	}
	_, err := in.next.Logout(ctx, &wire.LogoutRequest{Session: sess})
	var rv wire.RV
	if err != nil && !errors.As(err, &rv) {
		return // not the module's answer: try again another time
	}
	in.mu.Lock()
	in.notLoggedIn = &err
	in.mu.Unlock()
}

// closeSession closes one of the App's sessions; its session objects go
// with it, and with its last session on a token the App's login there.
func (a *App) closeSession(ctx context.Context, h uint64) error {
	a.mu.Lock()
	s, ok := a.sessions[h]
	if !ok {
		a.mu.Unlock()
		return wire.CKR_SESSION_HANDLE_INVALID
	}
	delete(a.sessions, h)
	last := true
	for _, o := range a.sessions {
		if o.slot == s.slot {
			last = false
		}
	}
	a.mu.Unlock()
	_, err := a.in.next.CloseSession(ctx, &wire.CloseSessionRequest{Session: h})
	a.in.mu.Lock()
	delete(a.in.sessions, h)
	for o, w := range a.in.owners {
		if w.sess == h {
			delete(a.in.owners, o)
			delete(a.in.private, o)
		}
	}
	a.in.mu.Unlock()
	if last {
		a.loggedOut(ctx, s.slot)
	}
	return err
}

// exclusive: C_InitToken and C_SetPIN change what every application of
// the token relies on, so they need the token to themselves.
func (a *App) exclusive(slot uint64) error {
	a.in.mu.Lock()
	defer a.in.mu.Unlock()
	for h, o := range a.in.sessions {
		if o == a {
			continue
		}
		o.mu.Lock()
		s, ok := o.sessions[h]
		o.mu.Unlock()
		if ok && s.slot == slot {
			return wire.CKR_SESSION_EXISTS
		}
	}
	return nil
}

func (a *App) sessionInfo(ctx context.Context, q *wire.GetSessionInfoRequest, s session) (wire.Message, error) {
	resp, err := a.in.next.GetSessionInfo(ctx, q)
	if err != nil {
		return nil, err
	}
	switch st := a.state(s.slot); {
	case st == so:
		resp.Info.State = wire.CKS_RW_SO_FUNCTIONS
	case st == user && s.rw:
		resp.Info.State = wire.CKS_RW_USER_FUNCTIONS
	case st == user:
		resp.Info.State = wire.CKS_RO_USER_FUNCTIONS
	case s.rw:
		resp.Info.State = wire.CKS_RW_PUBLIC_SESSION
	default:
		resp.Info.State = wire.CKS_RO_PUBLIC_SESSION
	}
	return resp, nil
}

// loginCall: a user login the token already has is checked against the
// PIN it accepted, in constant time, without reaching the token; the
// first one is the token's real login.
func (a *App) loginCall(ctx context.Context, q *wire.LoginRequest, s session) (wire.Message, error) {
	st := a.state(s.slot)
	switch {
	case q.UserType == wire.CKU_CONTEXT_SPECIFIC:
		if st == public {
			return nil, wire.CKR_USER_NOT_LOGGED_IN
		}
		return a.in.next.Login(ctx, q)
	case st == user && q.UserType == wire.CKU_USER, st == so && q.UserType == wire.CKU_SO:
		return nil, wire.CKR_USER_ALREADY_LOGGED_IN
	case st != public:
		return nil, wire.CKR_USER_ANOTHER_ALREADY_LOGGED_IN
	case q.UserType != wire.CKU_USER && q.UserType != wire.CKU_SO:
		return nil, wire.CKR_USER_TYPE_INVALID
	}
	if a.locked() {
		a.log.Warn().Str("identity", a.who).Int("max_pin_failures", a.in.maxFailures).Msg("login refused: too many wrong PINs")
		return nil, wire.CKR_PIN_LOCKED
	}
	t := a.in.token(s.slot)
	t.login.Lock()
	defer t.login.Unlock()
	if q.UserType == wire.CKU_SO {
		// An SO login changes the real token for everyone: only with the
		// token to itself.
		if err := a.exclusive(s.slot); err != nil {
			return nil, err
		}
		if _, err := a.in.next.Login(ctx, q); err != nil {
			a.failed(err)
			return nil, err
		}
		a.in.mu.Lock()
		t.so = a
		a.in.mu.Unlock()
		a.setState(s.slot, so)
		return &wire.LoginResponse{}, nil
	}
	if t.user {
		if !hmac.Equal(a.in.mac(q.Pin), t.pinMAC) {
			a.failed(wire.CKR_PIN_INCORRECT)
			return nil, wire.CKR_PIN_INCORRECT
		}
	} else {
		mac := a.in.mac(q.Pin) // before the call: whoever carries the PIN on zeroes it after
		if _, err := a.in.next.Login(ctx, q); err != nil {
			a.failed(err)
			return nil, err
		}
		t.user, t.pinMAC = true, mac
	}
	a.in.mu.Lock()
	t.users++
	delete(a.in.failures, a.who)
	a.in.mu.Unlock()
	a.setState(s.slot, user)
	return &wire.LoginResponse{}, nil
}

func (a *App) setState(slot uint64, st loginState) {
	a.mu.Lock()
	a.login[slot] = st
	a.mu.Unlock()
}

func (a *App) locked() bool {
	a.in.mu.Lock()
	defer a.in.mu.Unlock()
	return a.in.maxFailures > 0 && a.in.failures[a.who] >= a.in.maxFailures
}

// failed counts a wrong PIN against the App's identity.
func (a *App) failed(err error) {
	if !errors.Is(err, wire.CKR_PIN_INCORRECT) {
		return
	}
	a.in.mu.Lock()
	a.in.failures[a.who]++
	n := a.in.failures[a.who]
	a.in.mu.Unlock()
	e := a.log.Warn().Str("identity", a.who).Int("failures", n)
	if a.in.maxFailures > 0 && n >= a.in.maxFailures {
		e.Msg("wrong PIN: identity locked out (max_pin_failures)")
		return
	}
	e.Msg("wrong PIN")
}

func (a *App) logout(ctx context.Context, sess, slot uint64) error {
	if a.state(slot) != public {
		return a.loggedOut(ctx, slot)
	}
	t := a.in.token(slot)
	t.login.Lock()
	defer t.login.Unlock()
	a.in.mu.Lock()
	loggedIn, learnt := t.user || t.so != nil, a.in.notLoggedIn
	a.in.mu.Unlock()
	switch {
	case !loggedIn:
		_, err := a.in.next.Logout(ctx, &wire.LogoutRequest{Session: sess})
		return err
	case learnt != nil:
		return *learnt
	}
	return wire.CKR_USER_NOT_LOGGED_IN
}

// loggedOut ends the App's login on slot; the real token logs out when
// no App is logged in any more (on a session of whoever still has one;
// without any, the module has logged out by itself).
func (a *App) loggedOut(ctx context.Context, slot uint64) error {
	st := a.state(slot)
	if st == public {
		return nil
	}
	a.setState(slot, public)
	t := a.in.token(slot)
	t.login.Lock()
	defer t.login.Unlock()
	a.in.mu.Lock()
	if st == so {
		t.so = nil
	} else {
		t.users--
	}
	real := t.users == 0 && (st == so || t.user)
	var any uint64
	found := false
	if real {
		for h, o := range a.in.sessions {
			o.mu.Lock()
			s, ok := o.sessions[h]
			o.mu.Unlock()
			if ok && s.slot == slot {
				any, found = h, true
				break
			}
		}
		t.user, t.pinMAC = false, nil
		clear(a.in.private) // what was checked may be visible again
	}
	a.in.mu.Unlock()
	if found {
		if _, err := a.in.next.Logout(ctx, &wire.LogoutRequest{Session: any}); err != nil && !errors.Is(err, wire.CKR_USER_NOT_LOGGED_IN) {
			return err
		}
	}
	return nil
}

// hiding is why an object is, to an App, no object.
type hiding int

const (
	visible      hiding = iota
	othersObject        // a session object of another application
	privateOnly         // private, and the App has not logged in (the token has)
)

// hidden says whether object o is, to this App on slot, no object, and
// why. A private object is hidden only while the real token is logged in:
// otherwise the module itself hides it.
func (a *App) hidden(ctx context.Context, sess, slot, o uint64) (hiding, error) {
	a.in.mu.Lock()
	w, owned := a.in.owners[o]
	t := a.in.tokens[slot]
	tokenIn := t != nil && (t.user || t.so != nil)
	priv, known := a.in.private[o]
	a.in.mu.Unlock()
	if owned && w.app != a {
		return othersObject, nil
	}
	if !tokenIn || a.state(slot) == user {
		return visible, nil
	}
	if !known {
		v, err := a.bools(ctx, sess, o, wire.CKA_PRIVATE)
		if err != nil {
			return visible, err
		}
		priv = v[0]
		a.in.mu.Lock()
		a.in.private[o] = priv
		a.in.mu.Unlock()
	}
	if priv {
		return privateOnly, nil
	}
	return visible, nil
}

// bools reads boolean attributes of o (false where it has none).
func (a *App) bools(ctx context.Context, sess, o uint64, types ...uint64) ([]bool, error) {
	resp, err := a.in.next.GetAttributeValue(ctx, &wire.GetAttributeValueRequest{Session: sess, Object: o, Types: types})
	if err != nil && !errors.Is(err, wire.CKR_ATTRIBUTE_TYPE_INVALID) && !errors.Is(err, wire.CKR_ATTRIBUTE_SENSITIVE) {
		return nil, err
	}
	out := make([]bool, len(types))
	if resp != nil {
		for i, v := range resp.Values {
			if i < len(out) && v.RV == wire.CKR_OK {
				out[i] = v.Attr.Bool
			}
		}
	}
	return out, nil
}

// checkObjects refuses a call, on session sess, on an object the App may
// not see.
func (a *App) checkObjects(ctx context.Context, id wire.CallID, req wire.Message, sess uint64, s session) error {
	var objs []uint64
	req.Handles(func(k wire.HandleKind, h *uint64) {
		if k == wire.HObject && *h != 0 {
			objs = append(objs, *h)
		}
	})
	for _, o := range objs {
		why, err := a.hidden(ctx, sess, s.slot, o)
		switch {
		case err != nil:
			return err
		case why == othersObject, why == privateOnly && manages[id]:
			return wire.CKR_OBJECT_HANDLE_INVALID
		case why == privateOnly:
			return wire.CKR_USER_NOT_LOGGED_IN
		}
	}
	return nil
}

// checkTemplates: an application that has not logged in cannot make a
// private object, even while the real token is logged in.
func (a *App) checkTemplates(req wire.Message, s session) error {
	if a.state(s.slot) == user {
		return nil
	}
	for _, t := range wire.Templates(req) {
		for _, at := range t {
			if at.Type == wire.CKA_PRIVATE && at.Bool {
				return wire.CKR_USER_NOT_LOGGED_IN
			}
		}
	}
	return nil
}

// adopt records the objects a call made: session objects belong to the
// App; a private one made by an App that has not logged in (the vendor's
// default for its class) is destroyed again, as the vendor would not
// have made it.
func (a *App) adopt(ctx context.Context, resp wire.Message, sess uint64, s session) error {
	var made []uint64
	resp.Handles(func(k wire.HandleKind, h *uint64) {
		if k == wire.HObject && *h != 0 {
			made = append(made, *h)
		}
	})
	loggedIn := a.state(s.slot) == user
	refused := false
	type info struct{ token, private bool }
	infos := make([]info, len(made))
	for i, o := range made {
		v, err := a.bools(ctx, sess, o, wire.CKA_TOKEN, wire.CKA_PRIVATE)
		if err != nil {
			return err
		}
		infos[i] = info{v[0], v[1]}
		if v[1] && !loggedIn {
			refused = true
		}
	}
	if refused {
		for _, o := range made {
			a.in.next.DestroyObject(ctx, &wire.DestroyObjectRequest{Session: sess, Object: o})
		}
		return wire.CKR_USER_NOT_LOGGED_IN
	}
	a.in.mu.Lock()
	defer a.in.mu.Unlock()
	for i, o := range made {
		a.in.private[o] = infos[i].private
		if !infos[i].token {
			a.in.owners[o] = owner{app: a, sess: sess}
		}
	}
	return nil
}

// findObjects answers with the objects the App may see. An answer may
// hold fewer handles than asked for; only an empty one ends the search,
// so the module is asked again only while all it found was hidden.
func (a *App) findObjects(ctx context.Context, q *wire.FindObjectsRequest, s session) (wire.Message, error) {
	out := &wire.FindObjectsResponse{Objects: []uint64{}}
	for q.MaxObjectCount > 0 && len(out.Objects) == 0 {
		resp, err := a.in.next.FindObjects(ctx, q)
		if err != nil {
			return nil, err
		}
		if len(resp.Objects) == 0 {
			break
		}
		for _, o := range resp.Objects {
			if why, err := a.hidden(ctx, q.Session, s.slot, o); err == nil && why == visible {
				out.Objects = append(out.Objects, o)
			}
		}
	}
	return out, nil
}

// loginLost: the token answered CKR_USER_NOT_LOGGED_IN to an App that
// had logged in, so it forgot the login (a reset): every App on it is
// logged out, as applications that loaded the module alone would be. The
// next C_Login is a real one (a broker-held PIN logs in again at once).
func (in *Instance) loginLost(slot uint64) {
	in.mu.Lock()
	t := in.tokens[slot]
	in.mu.Unlock()
	if t == nil {
		return
	}
	t.login.Lock()
	defer t.login.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	if !t.user {
		return
	}
	t.user, t.pinMAC, t.users = false, nil, 0
	clear(in.private)
	for a := range in.apps {
		a.mu.Lock()
		if a.login[slot] == user {
			a.login[slot] = public
		}
		a.mu.Unlock()
	}
	in.log.Warn().Uint64("slot", slot).Msg("the token forgot its login: every connection on it is logged out")
}

// forget drops what is known of object o: it changed, or is destroyed.
func (in *Instance) forget(o uint64, destroyed bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.private, o)
	if destroyed {
		delete(in.owners, o)
	}
}
