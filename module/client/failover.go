package client

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"sync"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// With several brokers listed, the client fails over: when its broker is
// lost it connects to the next that answers (brokers in front of copies
// of the same tokens, under the same slot IDs) and restores each session
// there before its next call: the session, its login, its search, the
// calls of its operation under way. The application keeps its session and
// object handles, which the client maps to the new broker's, and the call
// in flight is sent again, once. An object is found again by its class,
// CKA_ID and CKA_LABEL, read when its handle first reaches the client
// (one more round trip per object handle, only with failover).

// maxReplay bounds the multi-part input kept per session to replay its
// operation on the next broker; past it, the operation is lost with the
// broker.
const maxReplay = 1 << 20

type failover struct {
	log zerolog.Logger

	mu     sync.Mutex
	logins map[uint64]*login                  // by slot: the application's login
	onConn map[uint64]*wire.Client            // by slot: the connection the login was made on
	objs   map[uint64]*objRef                 // by the application's handle
	rev    map[*wire.Client]map[uint64]uint64 // per connection: its handle → the application's
}

type login struct {
	userType uint64
	pin      wire.PIN // a copy, zeroed at C_Logout, at the slot's last session, at C_Finalize
}

type objKey struct {
	class     uint64
	id, label string
}

type objRef struct {
	key   objKey
	keyed bool
	real  uint64
	conn  *wire.Client // real is conn's handle
}

// foSession is what restores a session on another broker.
type foSession struct {
	mu      sync.Mutex // one call at a time, with its restore
	find    []wire.Attribute
	finding bool
	found   int
	ops     wire.OpLog // its Limit is maxReplay, set at the first call
}

func newFailover(log io.Writer) *failover {
	return &failover{log: zerolog.New(log).With().Timestamp().Str("part", "failover").Logger(),
		logins: map[uint64]*login{}, onConn: map[uint64]*wire.Client{}, objs: map[uint64]*objRef{},
		rev: map[*wire.Client]map[uint64]uint64{}}
}

// newHandle is a random non-zero 32-bit handle, for the rare handle a new
// broker gives that the application already holds for something else.
func newHandle() uint64 {
	var b [4]byte
	for {
		rand.Read(b[:])
		if h := uint64(binary.LittleEndian.Uint32(b[:])); h != 0 {
			return h
		}
	}
}

// callAnywhere makes a call that names no session, on the next broker if
// the connection is lost under it.
func (c *Client) callAnywhere(id wire.CallID, req, resp wire.Message) error {
	w, err := c.current()
	if err != nil {
		return err
	}
	err = w.Call(id, req, resp)
	if errors.Is(err, wire.ErrConnLost) && !c.closed.Load() {
		c.lost(w, id, err)
		if w, err = c.current(); err != nil {
			return err
		}
		err = w.Call(id, req, resp)
	}
	return err
}

func (c *Client) lost(w *wire.Client, id wire.CallID, err error) {
	c.fo.log.Warn().Str("broker", c.Endpoint()).Str("call", id.String()).Err(err).Msg("broker lost: the call goes to the next broker, and sessions are restored there")
	w.Close()
}

// callRestoring makes a call on session s: the session is restored on the
// current broker first if it was opened on another, and the call is sent
// again, once, if the broker is lost under it.
func (c *Client) callRestoring(s *Session, id wire.CallID, req, resp wire.Message) error {
	fs := &s.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var pin wire.PIN
	if l, ok := req.(*wire.LoginRequest); ok {
		pin = slices.Clone(l.Pin) // the wire client zeroes the request's
		defer clear(pin)
	}
	var kept wire.Message
	if d := wire.Lookup(id); d.Family != "" || id == wire.CallLogin {
		kept = wire.Clone(req)
		defer func() {
			if kept != nil {
				if l, ok := kept.(*wire.LoginRequest); ok {
					clear(l.Pin)
				}
			}
		}()
	}
	for attempt := 0; ; attempt++ {
		w, err := c.current()
		if err != nil {
			return err
		}
		if err = c.restore(w, s); err == nil {
			if l, ok := req.(*wire.LoginRequest); ok && attempt > 0 {
				l.Pin = slices.Clone(pin)
			}
			err = c.send(w, s, id, req, resp)
		}
		if errors.Is(err, wire.ErrConnLost) && attempt == 0 && !c.closed.Load() {
			c.lost(w, id, err)
			continue
		}
		var rv wire.RV
		if err == nil || errors.As(err, &rv) {
			if c.track(w, s, id, req, resp, rv, pin, kept) {
				kept = nil // the session keeps it
			}
		}
		return err
	}
}

// send makes one call on w, with the application's handles replaced by
// w's, and w's new object handles in resp replaced by the application's.
func (c *Client) send(w *wire.Client, s *Session, id wire.CallID, req, resp wire.Message) error {
	var saved []uint64
	req.Handles(func(k wire.HandleKind, p *uint64) {
		saved = append(saved, *p)
		switch k {
		case wire.HSession:
			*p = s.real
		case wire.HObject:
			if *p != 0 {
				*p = c.realObject(w, s, *p)
			}
		}
	})
	err := w.Call(id, req, resp)
	n := 0
	req.Handles(func(_ wire.HandleKind, p *uint64) { *p = saved[n]; n++ })
	if err != nil {
		return err
	}
	resp.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HObject && *p != 0 {
			*p = c.appObject(w, s, *p)
		}
	})
	return nil
}

// appObject is the application's handle for w's object h, learning the
// object's key the first time.
func (c *Client) appObject(w *wire.Client, s *Session, h uint64) uint64 {
	fo := c.fo
	fo.mu.Lock()
	if app, ok := fo.rev[w][h]; ok {
		fo.mu.Unlock()
		return app
	}
	fo.mu.Unlock()
	key, keyed := readKey(w, s.real, h)
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if app, ok := fo.rev[w][h]; ok {
		return app
	}
	app := h
	for fo.objs[app] != nil {
		app = newHandle()
	}
	fo.objs[app] = &objRef{key: key, keyed: keyed, real: h, conn: w}
	if fo.rev[w] == nil {
		fo.rev[w] = map[uint64]uint64{}
	}
	fo.rev[w][h] = app
	return app
}

// realObject is w's handle for the application's object app: found again
// by its key after a failover; 0 if it is not on w (the broker then
// answers as its module does for an invalid handle).
func (c *Client) realObject(w *wire.Client, s *Session, app uint64) uint64 {
	fo := c.fo
	fo.mu.Lock()
	o := fo.objs[app]
	if o == nil {
		fo.mu.Unlock()
		return app // never seen: the broker's answer stands
	}
	if o.conn == w {
		fo.mu.Unlock()
		return o.real
	}
	key, keyed := o.key, o.keyed
	fo.mu.Unlock()
	if !keyed {
		return 0
	}
	h := findKey(w, s.Slot, key)
	if h == 0 {
		fo.log.Warn().Uint64("class", key.class).Str("label", key.label).Msg("object not found again on this broker: its handle is invalid")
		return 0
	}
	fo.mu.Lock()
	defer fo.mu.Unlock()
	o.real, o.conn = h, w
	if fo.rev[w] == nil {
		fo.rev[w] = map[uint64]uint64{}
	}
	fo.rev[w][h] = app
	return h
}

// readKey reads an object's class, ID and label.
func readKey(w *wire.Client, ses, h uint64) (objKey, bool) {
	var resp wire.GetAttributeValueResponse
	err := w.Call(wire.CallGetAttributeValue, &wire.GetAttributeValueRequest{Session: ses, Object: h,
		Types: []uint64{wire.CKA_CLASS, wire.CKA_ID, wire.CKA_LABEL}}, &resp)
	if err != nil || len(resp.Values) != 3 || resp.Values[0].RV != wire.CKR_OK {
		return objKey{}, false
	}
	k := objKey{class: resp.Values[0].Attr.ULong}
	if resp.Values[1].RV == wire.CKR_OK {
		k.id = string(resp.Values[1].Attr.Bytes)
	}
	if resp.Values[2].RV == wire.CKR_OK {
		k.label = string(resp.Values[2].Attr.Bytes)
	}
	return k, true
}

// findKey finds the object with key on slot through a session of its own
// (the application's may have a search of its own under way): 0 if none.
func findKey(w *wire.Client, slot uint64, key objKey) uint64 {
	var open wire.OpenSessionResponse
	if w.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slot, Flags: wire.CKF_SERIAL_SESSION}, &open) != nil {
		return 0
	}
	defer w.Call(wire.CallCloseSession, &wire.CloseSessionRequest{Session: open.Session}, new(wire.CloseSessionResponse))
	tmpl := []wire.Attribute{
		{Type: wire.CKA_CLASS, Kind: wire.KindOf(wire.CKA_CLASS), ULong: key.class},
		{Type: wire.CKA_ID, Kind: wire.KindOf(wire.CKA_ID), Bytes: []byte(key.id)},
		{Type: wire.CKA_LABEL, Kind: wire.KindOf(wire.CKA_LABEL), Bytes: []byte(key.label)},
	}
	if w.Call(wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: open.Session, Template: tmpl}, new(wire.FindObjectsInitResponse)) != nil {
		return 0
	}
	var found wire.FindObjectsResponse
	err := w.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: open.Session, MaxObjectCount: 1}, &found)
	w.Call(wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: open.Session}, new(wire.FindObjectsFinalResponse))
	if err != nil || len(found.Objects) == 0 {
		return 0
	}
	return found.Objects[0]
}

// restore gives session s a session on w, if it was opened on another
// broker: the same slot and flags, the application's login on that slot,
// its search (the objects already returned skipped), and its operation's
// calls so far.
func (c *Client) restore(w *wire.Client, s *Session) error {
	if s.conn == w {
		return nil
	}
	fo, fs := c.fo, &s.fs
	var open wire.OpenSessionResponse
	if err := w.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: s.Slot, Flags: s.flags}, &open); err != nil {
		return err
	}
	s.conn, s.real = w, open.Session
	fo.mu.Lock()
	lg := fo.logins[s.Slot]
	var pin wire.PIN
	if lg != nil && fo.onConn[s.Slot] != w {
		pin = slices.Clone(lg.pin)
	}
	fo.mu.Unlock()
	if pin != nil {
		err := w.Call(wire.CallLogin, &wire.LoginRequest{Session: s.real, UserType: lg.userType, Pin: pin}, new(wire.LoginResponse))
		clear(pin)
		if err != nil && !errors.Is(err, wire.CKR_USER_ALREADY_LOGGED_IN) {
			fo.log.Error().Uint64("slot", s.Slot).Err(err).Msg("the login could not be restored on this broker")
			return err
		}
		fo.mu.Lock()
		fo.onConn[s.Slot] = w
		fo.mu.Unlock()
	}
	if fs.finding {
		if err := c.send(w, s, wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s.Handle, Template: fs.find}, new(wire.FindObjectsInitResponse)); err != nil {
			return err
		}
		if fs.found > 0 {
			var skip wire.FindObjectsResponse
			if err := w.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: s.real, MaxObjectCount: uint64(fs.found)}, &skip); err != nil {
				return err
			}
		}
	}
	if fs.ops.Over {
		fo.log.Error().Uint64("session", s.Handle).Msg("the operation under way is past the replay bound (1 MiB of input): it is lost with the broker")
		fs.ops.Reset()
	}
	replayed := len(fs.ops.Calls)
	for _, k := range fs.ops.Calls {
		if err := c.send(w, s, k.ID, wire.Clone(k.Req), wire.Lookup(k.ID).NewResponse()); err != nil {
			fo.log.Error().Uint64("session", s.Handle).Str("call", k.ID.String()).Err(err).Msg("the operation under way could not be restored on this broker")
			fs.ops.Reset()
			if errors.Is(err, wire.ErrConnLost) {
				return err
			}
			break
		}
	}
	fo.log.Info().Uint64("session", s.Handle).Uint64("slot", s.Slot).Int("calls_replayed", replayed).Msg("session restored on this broker")
	return nil
}

// track records what a call answered (rv 0: CKR_OK) did to the state a
// restore needs. It reports whether it kept req (kept, a copy).
func (c *Client) track(w *wire.Client, s *Session, id wire.CallID, req, resp wire.Message, rv wire.RV, pin wire.PIN, kept wire.Message) bool {
	fo, fs := c.fo, &s.fs
	ok := rv == wire.CKR_OK
	switch q := req.(type) {
	case *wire.LoginRequest:
		if q.UserType == wire.CKU_CONTEXT_SPECIFIC {
			break // part of the operation: below
		}
		if ok {
			fo.mu.Lock()
			fo.setLogin(s.Slot, &login{userType: q.UserType, pin: slices.Clone(pin)})
			fo.onConn[s.Slot] = w
			fo.mu.Unlock()
		}
		return false
	case *wire.LogoutRequest:
		if ok || rv == wire.CKR_USER_NOT_LOGGED_IN {
			fo.mu.Lock()
			fo.setLogin(s.Slot, nil)
			fo.mu.Unlock()
		}
		return false
	case *wire.FindObjectsInitRequest:
		if ok {
			fs.find, fs.finding, fs.found = wire.Clone(q).(*wire.FindObjectsInitRequest).Template, true, 0
		}
		return false
	case *wire.FindObjectsRequest:
		if ok {
			fs.found += len(resp.(*wire.FindObjectsResponse).Objects)
		}
		return false
	case *wire.FindObjectsFinalRequest:
		fs.find, fs.finding = nil, false
		return false
	}
	step := wire.StepOf(id)
	if id == wire.CallLogin {
		step = wire.OpUpdate // CKU_CONTEXT_SPECIFIC: part of the operation
	}
	if step == wire.NotOp {
		return false
	}
	fs.ops.Limit = maxReplay
	return fs.ops.Record(id, step, kept, ok)
}

// setLogin replaces slot's login, zeroing the old PIN; with fo.mu held.
func (fo *failover) setLogin(slot uint64, l *login) {
	if old := fo.logins[slot]; old != nil {
		clear(old.pin)
	}
	if l == nil {
		delete(fo.logins, slot)
		delete(fo.onConn, slot)
		return
	}
	fo.logins[slot] = l
}

// sessionGone: when the application's last session on slot closes, the
// token logs it out (spec 5.6), so its PIN is no longer needed.
func (fo *failover) sessionGone(c *Client, slot uint64) {
	left := false
	c.sessions.Range(func(_, v any) bool {
		left = v.(*Session).Slot == slot
		return !left
	})
	if !left {
		fo.mu.Lock()
		fo.setLogin(slot, nil)
		fo.mu.Unlock()
	}
}

// close zeroes every PIN kept (C_Finalize).
func (fo *failover) close() {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	for slot := range fo.logins {
		fo.setLogin(slot, nil)
	}
}
