package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// errSkip: the call cannot run on this member (an object it names is not
// there); try another, the member is fine.
var errSkip = errors.New("not on this member")

// Conn is one connection's use of a group: a wire.Backend whose session
// and object handles are its own, small and stable across failovers.
type Conn struct {
	g     *Group
	links []Member
	log   zerolog.Logger

	mu       sync.Mutex
	inc      []uint64 // per member: the incarnation the handles below belong to
	loggedIn []uint64 // per member: the incarnation the login was made on; 0: none
	loginMu  []sync.Mutex
	sessions map[uint64]*session
	objects  map[uint64]*object
	byKey    map[objKey]uint64
	rev      []map[uint64]uint64 // per member: its handle → virtual object, within inc
	next     uint64              // last virtual handle given, sessions and objects alike
	user     *login              // nil: not logged in
}

type login struct {
	userType uint64
	pin      wire.PIN // a copy, zeroed at logout and close
}

// objKey matches one logical object across members.
type objKey struct {
	class     uint64
	id, label string
}

type object struct {
	key     objKey
	keyed   bool     // key was read: the object can be found on other members
	only    int      // -1: on every member that has it; else only on that one
	session uint64   // a session object: the virtual session that made it
	h       []uint64 // per member handle, valid while hInc[i] is the member's incarnation
	hInc    []uint64
	missing []uint64 // per member: the incarnation it was looked for on and not found
}

type session struct {
	mu      sync.Mutex // one call at a time on a session
	v       uint64
	flags   uint64
	real    []uint64 // per member, valid while realInc[i] == Conn.inc[i]
	realInc []uint64
	// Operations (Init to their last call) run on one member, op; ops
	// keeps their calls so far, to replay them on another member.
	op      int
	ops     wire.OpLog
	found   []uint64 // C_FindObjects results not yet returned
	finding bool
}

// Conn gives a connection its view of the group; links[i] reaches member i.
func (g *Group) Conn(links []Member, log zerolog.Logger) *Conn {
	n := len(links)
	c := &Conn{g: g, links: links, log: log.With().Str("group", g.cfg.Name).Logger(),
		inc: make([]uint64, n), loggedIn: make([]uint64, n), loginMu: make([]sync.Mutex, n),
		sessions: map[uint64]*session{}, objects: map[uint64]*object{}, byKey: map[objKey]uint64{},
		rev: make([]map[uint64]uint64, n)}
	for i := range c.rev {
		c.rev[i] = map[uint64]uint64{}
	}
	return c
}

// Call serves one call of the connection on the group's slot.
// v3Unsupported are the v3.0 calls a group answers with
// CKR_FUNCTION_NOT_SUPPORTED.
var v3Unsupported = func() map[wire.CallID]bool {
	m := map[wire.CallID]bool{wire.CallLoginUser: true, wire.CallSessionCancel: true}
	for id := wire.CallMessageEncryptInit; id <= wire.CallMessageVerifyFinal; id++ {
		m[id] = true
	}
	return m
}()

func (c *Conn) Call(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
	d := wire.Lookup(id)
	if v3Unsupported[id] {
		// Not carried across members yet: a message operation's replay
		// (its IVs and counters) and C_LoginUser's user are not kept.
		c.log.Warn().Str("call", d.Name).Msg("a v3.0 call to a group: not supported (CKR_FUNCTION_NOT_SUPPORTED)")
		return nil, wire.CKR_FUNCTION_NOT_SUPPORTED
	}
	if !d.Session {
		return c.slotCall(ctx, d, req)
	}
	var v uint64
	req.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HSession && v == 0 {
			v = *p
		}
	})
	c.mu.Lock()
	s := c.sessions[v]
	c.mu.Unlock()
	if s == nil {
		return nil, wire.CKR_SESSION_HANDLE_INVALID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	closed := c.sessions[v] != s // while this call waited
	c.mu.Unlock()
	if closed {
		return nil, wire.CKR_SESSION_HANDLE_INVALID
	}
	switch q := req.(type) {
	case *wire.CloseSessionRequest:
		c.closeSession(ctx, s)
		return &wire.CloseSessionResponse{}, nil
	case *wire.GetSessionInfoRequest:
		return &wire.GetSessionInfoResponse{Info: c.sessionInfo(s)}, nil
	case *wire.LoginRequest:
		return c.login(ctx, s, d, q)
	case *wire.LogoutRequest:
		return c.logout(ctx, s)
	case *wire.FindObjectsInitRequest:
		return c.findInit(ctx, s, q)
	case *wire.FindObjectsRequest:
		if !s.finding {
			return nil, wire.CKR_OPERATION_NOT_INITIALIZED
		}
		n := min(uint64(len(s.found)), q.MaxObjectCount)
		out := append([]uint64(nil), s.found[:n]...)
		s.found = s.found[n:]
		return &wire.FindObjectsResponse{Objects: out}, nil
	case *wire.FindObjectsFinalRequest:
		if !s.finding {
			return nil, wire.CKR_OPERATION_NOT_INITIALIZED
		}
		s.finding, s.found = false, nil
		return &wire.FindObjectsFinalResponse{}, nil
	case *wire.InitPINRequest, *wire.SetPINRequest, *wire.GetOperationStateRequest, *wire.SetOperationStateRequest:
		return nil, c.unsupported(d, "not on a group: use the member tokens' own slots")
	case *wire.GetFunctionStatusRequest, *wire.CancelFunctionRequest:
		return nil, wire.CKR_FUNCTION_NOT_PARALLEL
	case *wire.CreateObjectRequest, *wire.CopyObjectRequest, *wire.GenerateKeyRequest, *wire.GenerateKeyPairRequest,
		*wire.UnwrapKeyRequest, *wire.DeriveKeyRequest:
		return c.create(ctx, s, d, req)
	case *wire.DestroyObjectRequest, *wire.SetAttributeValueRequest:
		return c.everywhere(ctx, s, d, req)
	}
	if d.Family != "" {
		return c.opCall(ctx, s, d, req, wire.StepOf(d.ID))
	}
	// C_GetAttributeValue, C_GetObjectSize, C_WrapKey, C_SeedRandom,
	// C_GenerateRandom: any member holding the objects named.
	resp, _, err := c.anywhere(ctx, s, d, req)
	return resp, err
}

// slotCall serves the calls that name the group's slot.
func (c *Conn) slotCall(ctx context.Context, d *wire.CallDesc, req wire.Message) (wire.Message, error) {
	switch q := req.(type) {
	case *wire.OpenSessionRequest:
		return c.openSession(ctx, q)
	case *wire.CloseAllSessionsRequest:
		c.closeAll(ctx)
		return &wire.CloseAllSessionsResponse{}, nil
	case *wire.InitTokenRequest:
		return nil, c.unsupported(d, "not on a group: initialize the member tokens through their own slots")
	}
	// C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo
	resp, _, err := c.anywhere(ctx, nil, d, req)
	if ti, ok := resp.(*wire.GetTokenInfoResponse); ok {
		// Applications find their token by serial number (Amplia's
		// TokenSerialNumber), and the members' serials differ: the
		// group's is its name, whichever member answers.
		ti.Info.SerialNumber = fmt.Sprintf("%-16.16s", c.g.cfg.Name)
	}
	return resp, err
}

func (c *Conn) unsupported(d *wire.CallDesc, why string) error {
	c.log.Warn().Str("call", d.Name).Msg("CKR_FUNCTION_NOT_SUPPORTED: " + why)
	return wire.CKR_FUNCTION_NOT_SUPPORTED
}

// noMember ends a call that no member could serve.
func (c *Conn) noMember(d *wire.CallDesc, last error) error {
	c.log.Error().Str("call", d.Name).AnErr("last", last).Msg("no member of the group could serve the call: CKR_DEVICE_ERROR")
	return wire.CKR_DEVICE_ERROR
}

// anywhere runs a call on the best member that may hold its objects, and
// on the next while members fail. It returns the member that answered.
func (c *Conn) anywhere(ctx context.Context, s *session, d *wire.CallDesc, req wire.Message) (wire.Message, int, error) {
	tried := make([]bool, len(c.links))
	allowed := c.allowed(req)
	var last error
	for {
		i := c.g.pick(allowed, tried)
		if i < 0 {
			if errors.Is(last, errSkip) || last == nil {
				return nil, -1, wire.CKR_OBJECT_HANDLE_INVALID
			}
			return nil, -1, c.noMember(d, last)
		}
		resp, err := c.on(ctx, s, i, d.ID, req)
		if errors.Is(err, ErrStale) {
			// The member restarted: the call opens its handles there again.
			resp, err = c.on(ctx, s, i, d.ID, req)
		}
		if !c.retry(i, err) {
			return resp, i, err
		}
		tried[i], last = true, err
	}
}

// retry reports whether a call that got err on member i goes to another
// member, and takes i out of service if it failed.
func (c *Conn) retry(i int, err error) bool {
	if errors.Is(err, errSkip) || errors.Is(err, ErrStale) {
		return true
	}
	if Failed(err) {
		c.g.markDown(i, err)
		return true
	}
	return false
}

// on runs one call on member i for session s (nil: a slot call): the
// session's real session there, its login, and the objects' handles on
// that member replace the virtual ones for the call.
func (c *Conn) on(ctx context.Context, s *session, i int, id wire.CallID, req wire.Message) (wire.Message, error) {
	var inc uint64
	if s != nil {
		if err := c.ready(ctx, s, i); err != nil {
			return nil, err
		}
		inc = s.realInc[i]
	}
	var saved []uint64
	var err error
	req.Handles(func(k wire.HandleKind, p *uint64) {
		saved = append(saved, *p)
		if err != nil {
			return
		}
		switch k {
		case wire.HSession:
			*p = s.real[i]
		case wire.HSlot:
			*p = c.links[i].Slot()
		case wire.HObject:
			if *p != 0 {
				*p, err = c.handle(ctx, s, i, *p)
			}
		}
	})
	defer func() {
		n := 0
		req.Handles(func(_ wire.HandleKind, p *uint64) { *p = saved[n]; n++ })
	}()
	if err != nil {
		return nil, err
	}
	resp, _, err := c.call(ctx, i, inc, id, req)
	return resp, err
}

// call is one call on member i, counted for load spreading.
func (c *Conn) call(ctx context.Context, i int, inc uint64, id wire.CallID, req wire.Message) (wire.Message, uint64, error) {
	m := c.g.members[i]
	m.busy.Add(1)
	resp, got, err := c.links[i].Call(ctx, inc, id, req)
	m.busy.Add(-1)
	m.calls.Add(1)
	if errors.Is(err, ErrStale) {
		c.mu.Lock()
		stale := c.inc[i] == inc
		c.mu.Unlock()
		if stale {
			c.adopt(i, 0) // every handle on i is opened again at its next use
		}
	}
	return resp, got, err
}

// ready gives session s a real session on member i, logged in if the
// connection is.
func (c *Conn) ready(ctx context.Context, s *session, i int) error {
	c.mu.Lock()
	ok := s.realInc[i] != 0 && s.realInc[i] == c.inc[i]
	c.mu.Unlock()
	if !ok {
		resp, inc, err := c.call(ctx, i, 0, wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: c.links[i].Slot(), Flags: s.flags})
		if err != nil {
			return err
		}
		c.adopt(i, inc)
		s.real[i], s.realInc[i] = resp.(*wire.OpenSessionResponse).Session, inc
	}
	return c.loginOn(ctx, s, i)
}

// adopt records member i's incarnation: a new one (a worker restarted)
// invalidates every handle and the login of the old.
func (c *Conn) adopt(i int, inc uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inc[i] == inc {
		return
	}
	c.inc[i] = inc
	c.loggedIn[i] = 0
	clear(c.rev[i])
}

// loginOn logs the connection in on member i, once per incarnation.
func (c *Conn) loginOn(ctx context.Context, s *session, i int) error {
	c.loginMu[i].Lock()
	defer c.loginMu[i].Unlock()
	c.mu.Lock()
	u, inc := c.user, s.realInc[i]
	done := c.loggedIn[i] == inc
	var pin wire.PIN
	if u != nil {
		pin = append(wire.PIN(nil), u.pin...)
	}
	c.mu.Unlock()
	if u == nil || done {
		return nil
	}
	defer clear(pin)
	_, _, err := c.call(ctx, i, inc, wire.CallLogin, &wire.LoginRequest{Session: s.real[i], UserType: u.userType, Pin: pin})
	if err != nil && !errors.Is(err, wire.CKR_USER_ALREADY_LOGGED_IN) {
		if Failed(err) {
			return err
		}
		c.log.Error().Str("member", c.g.members[i].name).Err(err).Msg("the login that other members accepted failed on this member: it serves this connection no more calls")
		return errSkip
	}
	c.mu.Lock()
	c.loggedIn[i] = inc
	c.mu.Unlock()
	return nil
}

func (c *Conn) openSession(ctx context.Context, q *wire.OpenSessionRequest) (wire.Message, error) {
	n := len(c.links)
	s := &session{flags: q.Flags, real: make([]uint64, n), realInc: make([]uint64, n), op: -1, ops: wire.OpLog{Limit: c.g.cfg.ReplayLimit}}
	tried := make([]bool, n)
	var last error
	for {
		i := c.g.pick(nil, tried)
		if i < 0 {
			return nil, c.noMember(wire.Lookup(wire.CallOpenSession), last)
		}
		err := c.ready(ctx, s, i)
		if err == nil {
			break
		}
		if !c.retry(i, err) {
			return nil, err
		}
		tried[i], last = true, err
	}
	c.mu.Lock()
	c.next++
	s.v = c.next
	c.sessions[s.v] = s
	c.mu.Unlock()
	return &wire.OpenSessionResponse{Session: s.v}, nil
}

// closeSession closes s's real sessions (their operations and session
// objects end with them) and forgets s; with the last session, the
// connection's login ends, as PKCS #11 has it.
func (c *Conn) closeSession(ctx context.Context, s *session) {
	for i := range c.links {
		c.mu.Lock()
		live := s.realInc[i] != 0 && s.realInc[i] == c.inc[i]
		c.mu.Unlock()
		if live {
			c.call(ctx, i, s.realInc[i], wire.CallCloseSession, &wire.CloseSessionRequest{Session: s.real[i]})
		}
	}
	c.endOps(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sessions, s.v)
	for v, o := range c.objects {
		if o.session == s.v {
			c.forget(v, o)
		}
	}
	if len(c.sessions) == 0 {
		c.dropLogin()
	}
}

func (c *Conn) closeAll(ctx context.Context) {
	c.mu.Lock()
	all := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		all = append(all, s)
	}
	c.mu.Unlock()
	for _, s := range all {
		s.mu.Lock()
		c.mu.Lock()
		open := c.sessions[s.v] == s
		c.mu.Unlock()
		if open {
			c.closeSession(ctx, s)
		}
		s.mu.Unlock()
	}
}

// Close ends the connection's use of the group.
func (c *Conn) Close(ctx context.Context) {
	c.closeAll(ctx)
	c.log.Info().Interface("members", c.g.Stats()).Msg("group: a connection left")
}

// dropLogin forgets the connection's login; with c.mu held.
func (c *Conn) dropLogin() {
	if c.user != nil {
		clear(c.user.pin)
		c.user = nil
	}
	clear(c.loggedIn)
}

func (c *Conn) sessionInfo(s *session) wire.SessionInfo {
	c.mu.Lock()
	u := c.user
	c.mu.Unlock()
	rw := s.flags&wire.CKF_RW_SESSION != 0
	state := uint64(wire.CKS_RO_PUBLIC_SESSION)
	switch {
	case u != nil && u.userType == wire.CKU_SO:
		state = wire.CKS_RW_SO_FUNCTIONS
	case u != nil && rw:
		state = wire.CKS_RW_USER_FUNCTIONS
	case u != nil:
		state = wire.CKS_RO_USER_FUNCTIONS
	case rw:
		state = wire.CKS_RW_PUBLIC_SESSION
	}
	return wire.SessionInfo{SlotID: c.g.cfg.Slot, State: state, Flags: s.flags}
}

// login checks the PIN on one member, keeps it for the others (each is
// logged in before its first use) and answers as that member did.
func (c *Conn) login(ctx context.Context, s *session, d *wire.CallDesc, q *wire.LoginRequest) (wire.Message, error) {
	if q.UserType == wire.CKU_CONTEXT_SPECIFIC {
		return c.opCall(ctx, s, d, q, wire.OpUpdate)
	}
	if q.UserType != wire.CKU_USER {
		return nil, c.unsupported(d, "only user logins on a group: log the SO in through a member token's own slot")
	}
	c.mu.Lock()
	u := c.user
	c.mu.Unlock()
	if u != nil {
		return nil, wire.CKR_USER_ALREADY_LOGGED_IN
	}
	// A copy for the other members, taken first: the call scrubs q's.
	pin := append(wire.PIN(nil), q.Pin...)
	tried := make([]bool, len(c.links))
	var last error
	for {
		i := c.g.pick(nil, tried)
		if i < 0 {
			clear(pin)
			return nil, c.noMember(d, last)
		}
		req := &wire.LoginRequest{Session: q.Session, UserType: q.UserType, Pin: append(wire.PIN(nil), pin...)}
		_, err := c.on(ctx, s, i, d.ID, req)
		clear(req.Pin)
		if c.retry(i, err) {
			tried[i], last = true, err
			continue
		}
		if err != nil && !errors.Is(err, wire.CKR_USER_ALREADY_LOGGED_IN) {
			clear(pin)
			return nil, err
		}
		c.mu.Lock()
		c.user = &login{userType: q.UserType, pin: pin}
		c.loggedIn[i] = s.realInc[i]
		c.mu.Unlock()
		return &wire.LoginResponse{}, err
	}
}

func (c *Conn) logout(ctx context.Context, s *session) (wire.Message, error) {
	c.mu.Lock()
	if c.user == nil {
		c.mu.Unlock()
		return nil, wire.CKR_USER_NOT_LOGGED_IN
	}
	type target struct {
		i        int
		inc, ses uint64
	}
	var ts []target
	for i, inc := range c.loggedIn {
		if inc == 0 || inc != c.inc[i] {
			continue
		}
		for _, o := range c.sessions {
			if o.realInc[i] == inc {
				ts = append(ts, target{i, inc, o.real[i]})
				break
			}
		}
	}
	c.dropLogin()
	c.mu.Unlock()
	for _, t := range ts {
		c.call(ctx, t.i, t.inc, wire.CallLogout, &wire.LogoutRequest{Session: t.ses})
	}
	return &wire.LogoutResponse{}, nil
}
