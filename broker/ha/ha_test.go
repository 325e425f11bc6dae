package ha

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// fakeToken is one member's token for the unit tests: objects by handle,
// sessions, a login, and a sign operation whose signature is the SHA-256
// of the key's ID and the data, so that every member holding the key
// signs alike. The real thing (SoftHSM2 members, killed workers) is in
// tests/ha.
type fakeToken struct {
	mu       sync.Mutex
	objs     map[uint64]fakeObj
	inc      uint64 // the incarnation; a restart takes the next
	sessions map[uint64]*fakeSession
	next     uint64
	loggedIn bool
	down     bool // calls answer ErrDown
	failIn   int  // > 0: that many calls from now, one answers CKR_DEVICE_ERROR
	signs    int  // C_Sign and C_SignFinal answered
}

type fakeObj struct {
	class     uint64
	id, label string
}

type fakeSession struct {
	key  uint64
	data []byte
	op   bool
}

const pin = "Qx7-unit-pin"

func newToken(objs ...fakeObj) *fakeToken {
	t := &fakeToken{objs: map[uint64]fakeObj{}, inc: 1, sessions: map[uint64]*fakeSession{}, next: 100}
	for _, o := range objs {
		t.next++
		t.objs[t.next] = o
	}
	return t
}

// restart is a new incarnation: sessions and login gone.
func (t *fakeToken) restart() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inc++
	t.sessions = map[uint64]*fakeSession{}
	t.loggedIn, t.down = false, false
}

func (t *fakeToken) Slot() uint64 { return 7 }

func (t *fakeToken) Call(ctx context.Context, inc uint64, id wire.CallID, req wire.Message) (wire.Message, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.down:
		return nil, 0, ErrDown
	case inc != 0 && inc != t.inc:
		return nil, 0, ErrStale
	}
	if t.failIn > 0 {
		if t.failIn--; t.failIn == 0 {
			t.down = true
			return nil, t.inc, wire.CKR_DEVICE_ERROR
		}
	}
	resp, err := t.serve(req)
	return resp, t.inc, err
}

func (t *fakeToken) session(h uint64) (*fakeSession, error) {
	s := t.sessions[h]
	if s == nil {
		return nil, wire.CKR_SESSION_HANDLE_INVALID
	}
	return s, nil
}

func (t *fakeToken) serve(req wire.Message) (wire.Message, error) {
	switch q := req.(type) {
	case *wire.GetTokenInfoRequest:
		return &wire.GetTokenInfoResponse{Info: wire.TokenInfo{Label: "signer", SerialNumber: "member-serial"}}, nil
	case *wire.OpenSessionRequest:
		if q.SlotID != 7 {
			return nil, wire.CKR_SLOT_ID_INVALID
		}
		t.next++
		t.sessions[t.next] = &fakeSession{}
		return &wire.OpenSessionResponse{Session: t.next}, nil
	case *wire.CloseSessionRequest:
		if _, err := t.session(q.Session); err != nil {
			return nil, err
		}
		delete(t.sessions, q.Session)
		if len(t.sessions) == 0 {
			t.loggedIn = false
		}
		return &wire.CloseSessionResponse{}, nil
	case *wire.LoginRequest:
		if _, err := t.session(q.Session); err != nil {
			return nil, err
		}
		if string(q.Pin) != pin {
			return nil, wire.CKR_PIN_INCORRECT
		}
		if t.loggedIn {
			return nil, wire.CKR_USER_ALREADY_LOGGED_IN
		}
		t.loggedIn = true
		return &wire.LoginResponse{}, nil
	case *wire.LogoutRequest:
		t.loggedIn = false
		return &wire.LogoutResponse{}, nil
	case *wire.FindObjectsInitRequest:
		s, err := t.session(q.Session)
		if err != nil {
			return nil, err
		}
		var found []uint64
		for h, o := range t.objs {
			if matches(o, q.Template) {
				found = append(found, h)
			}
		}
		s.data = nil
		for _, h := range found {
			s.data = append(s.data, byte(h))
		}
		return &wire.FindObjectsInitResponse{}, nil
	case *wire.FindObjectsRequest:
		s, err := t.session(q.Session)
		if err != nil {
			return nil, err
		}
		var out []uint64
		for _, b := range s.data {
			out = append(out, uint64(b))
		}
		s.data = nil
		return &wire.FindObjectsResponse{Objects: out}, nil
	case *wire.FindObjectsFinalRequest:
		return &wire.FindObjectsFinalResponse{}, nil
	case *wire.GetAttributeValueRequest:
		o, ok := t.objs[q.Object]
		if !ok {
			return nil, wire.CKR_OBJECT_HANDLE_INVALID
		}
		var vals []wire.AttrResult
		for _, ty := range q.Types {
			a := wire.Attribute{Type: ty, Kind: wire.KindOf(ty)}
			switch ty {
			case wire.CKA_CLASS:
				a.ULong = o.class
			case wire.CKA_ID:
				a.Bytes = []byte(o.id)
			case wire.CKA_LABEL:
				a.Bytes = []byte(o.label)
			default:
				vals = append(vals, wire.AttrResult{RV: wire.CKR_ATTRIBUTE_TYPE_INVALID, Attr: wire.Attribute{Type: ty}})
				continue
			}
			vals = append(vals, wire.AttrResult{Attr: a})
		}
		return &wire.GetAttributeValueResponse{Values: vals}, nil
	case *wire.SignInitRequest:
		s, err := t.session(q.Session)
		if err != nil {
			return nil, err
		}
		if _, ok := t.objs[q.Key]; !ok {
			return nil, wire.CKR_KEY_HANDLE_INVALID
		}
		if !t.loggedIn {
			return nil, wire.CKR_USER_NOT_LOGGED_IN
		}
		s.key, s.data, s.op = q.Key, nil, true
		return &wire.SignInitResponse{}, nil
	case *wire.SignUpdateRequest:
		s, err := t.session(q.Session)
		if err != nil {
			return nil, err
		}
		if !s.op {
			return nil, wire.CKR_OPERATION_NOT_INITIALIZED
		}
		s.data = append(s.data, q.Part...)
		return &wire.SignUpdateResponse{}, nil
	case *wire.SignRequest, *wire.SignFinalRequest:
		var ses uint64
		req.Handles(func(_ wire.HandleKind, p *uint64) { ses = *p })
		s, err := t.session(ses)
		if err != nil {
			return nil, err
		}
		if !s.op {
			return nil, wire.CKR_OPERATION_NOT_INITIALIZED
		}
		if sq, ok := q.(*wire.SignRequest); ok {
			s.data = append(s.data, sq.Data...)
		}
		s.op = false
		t.signs++
		sig := signature(t.objs[s.key].id, s.data)
		if _, ok := q.(*wire.SignRequest); ok {
			return &wire.SignResponse{Signature: sig}, nil
		}
		return &wire.SignFinalResponse{Signature: sig}, nil
	}
	return nil, wire.CKR_FUNCTION_NOT_SUPPORTED
}

func matches(o fakeObj, tmpl []wire.Attribute) bool {
	for _, a := range tmpl {
		switch a.Type {
		case wire.CKA_CLASS:
			if a.ULong != o.class {
				return false
			}
		case wire.CKA_ID:
			if string(a.Bytes) != o.id {
				return false
			}
		case wire.CKA_LABEL:
			if string(a.Bytes) != o.label {
				return false
			}
		}
	}
	return true
}

func signature(id string, data []byte) []byte {
	h := sha256.Sum256(append([]byte(id), data...))
	return h[:]
}

var (
	key   = fakeObj{class: wire.CKO_PRIVATE_KEY, id: "01", label: "k"}
	other = fakeObj{class: wire.CKO_PRIVATE_KEY, id: "02", label: "only-on-b"}
)

// group makes a group over toks and one connection's view of it.
func group(t *testing.T, limit int, toks ...*fakeToken) (*Group, *Conn) {
	t.Helper()
	names := []string{"a", "b", "c"}[:len(toks)]
	links := make([]Member, len(toks))
	for i, tok := range toks {
		links[i] = tok
	}
	g := New(Config{Name: "signers", Slot: 10, Members: names, NewKeys: "refuse", ReplayLimit: limit,
		Interval: 5 * time.Millisecond, Log: zerolog.New(zerolog.NewTestWriter(t)),
		Check: func(ctx context.Context, i int) error {
			_, _, err := toks[i].Call(ctx, 0, wire.CallGetTokenInfo, &wire.GetTokenInfoRequest{SlotID: 7})
			return err
		}})
	t.Cleanup(g.Close)
	return g, g.Conn(links, zerolog.New(zerolog.NewTestWriter(t)))
}

func call(t *testing.T, c *Conn, id wire.CallID, req wire.Message) wire.Message {
	t.Helper()
	resp, err := c.Call(context.Background(), id, req)
	if err != nil {
		t.Fatalf("%s: %v", wire.Lookup(id).Name, err)
	}
	return resp
}

// loggedIn opens a session, logs it in and finds the key: its handles.
func loggedIn(t *testing.T, c *Conn) (ses, k uint64) {
	t.Helper()
	ses = call(t, c, wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 10, Flags: wire.CKF_SERIAL_SESSION}).(*wire.OpenSessionResponse).Session
	call(t, c, wire.CallLogin, &wire.LoginRequest{Session: ses, UserType: wire.CKU_USER, Pin: wire.PIN(pin)})
	call(t, c, wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: ses, Template: []wire.Attribute{
		{Type: wire.CKA_LABEL, Kind: wire.KindOf(wire.CKA_LABEL), Bytes: []byte("k")}}})
	found := call(t, c, wire.CallFindObjects, &wire.FindObjectsRequest{Session: ses, MaxObjectCount: 10}).(*wire.FindObjectsResponse).Objects
	call(t, c, wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: ses})
	if len(found) != 1 {
		t.Fatalf("the key on both members found as %v, want one handle", found)
	}
	return ses, found[0]
}

func TestPick(t *testing.T) {
	for _, tc := range []struct {
		name    string
		down    []bool
		busy    []int64
		allowed func(int) bool
		tried   []bool
		want    int
	}{
		{"ties go to the first", []bool{false, false, false}, []int64{0, 0, 0}, nil, []bool{false, false, false}, 0},
		{"fewest calls under way", []bool{false, false, false}, []int64{3, 1, 2}, nil, []bool{false, false, false}, 1},
		{"down members are passed over", []bool{true, false, false}, []int64{0, 5, 4}, nil, []bool{false, false, false}, 2},
		{"tried members are passed over", []bool{false, false, false}, []int64{0, 1, 2}, nil, []bool{true, false, false}, 1},
		{"only allowed members", []bool{false, false, false}, []int64{0, 0, 9}, func(i int) bool { return i == 2 }, []bool{false, false, false}, 2},
		{"none up: the first not tried, a call is a check", []bool{true, true, true}, []int64{0, 0, 0}, nil, []bool{true, false, false}, 1},
		{"none left", []bool{false, false, false}, []int64{0, 0, 0}, nil, []bool{true, true, true}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New(Config{Name: "g", Members: []string{"a", "b", "c"}})
			defer g.Close()
			for i, m := range g.members {
				m.down.Store(tc.down[i])
				m.busy.Store(tc.busy[i])
			}
			if got := g.pick(tc.allowed, tc.tried); got != tc.want {
				t.Errorf("pick = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestFailed(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{ErrDown, true},
		{errors.Join(errors.New("remote c"), ErrDown), true},
		{wire.CKR_DEVICE_ERROR, true},
		{wire.CKR_DEVICE_REMOVED, true},
		{wire.CKR_TOKEN_NOT_PRESENT, true},
		{wire.CKR_DEVICE_MEMORY, true},
		{ErrStale, false}, // the member is up; its handles are opened again
		{wire.CKR_PIN_INCORRECT, false},
		{wire.CKR_KEY_HANDLE_INVALID, false},
		{nil, false},
	} {
		if got := Failed(tc.err); got != tc.want {
			t.Errorf("Failed(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A multi-part signature whose member fails between two updates is
// replayed on the other member and comes out as one member alone makes
// it; past replay_limit, the next call fails with CKR_DEVICE_ERROR.
func TestFailoverMidOperation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		fail   func(a *fakeToken)
		want   error
		signer int // the member that makes the signature
	}{
		{"worker gone", 1 << 20, func(a *fakeToken) { a.mu.Lock(); a.down = true; a.mu.Unlock() }, nil, 1},
		{"device error", 1 << 20, func(a *fakeToken) { a.mu.Lock(); a.failIn = 1; a.mu.Unlock() }, nil, 1},
		// A member that restarted at once is up: the operation is
		// replayed on its new incarnation.
		{"restarted", 1 << 20, func(a *fakeToken) { a.restart() }, nil, 0},
		{"past replay_limit", 8, func(a *fakeToken) { a.mu.Lock(); a.down = true; a.mu.Unlock() }, wire.CKR_DEVICE_ERROR, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newToken(key), newToken(key)
			_, c := group(t, tc.limit, a, b)
			ses, k := loggedIn(t, c)
			call(t, c, wire.CallSignInit, &wire.SignInitRequest{Session: ses, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: k})
			call(t, c, wire.CallSignUpdate, &wire.SignUpdateRequest{Session: ses, Part: []byte("first part, 16b")})
			tc.fail(a)
			_, err := c.Call(context.Background(), wire.CallSignUpdate, &wire.SignUpdateRequest{Session: ses, Part: []byte("second")})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("C_SignUpdate after member a failed: %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			sig := call(t, c, wire.CallSignFinal, &wire.SignFinalRequest{Session: ses}).(*wire.SignFinalResponse).Signature
			if want := signature("01", []byte("first part, 16bsecond")); !bytes.Equal(sig, want) {
				t.Errorf("signature %x, want %x", sig, want)
			}
			if signs := []int{a.signs, b.signs}; signs[tc.signer] != 1 || signs[1-tc.signer] != 0 {
				t.Errorf("signatures made on a and b: %v, want one on member %d", signs, tc.signer)
			}
		})
	}
}

// With every member down a call answers CKR_DEVICE_ERROR at once; a
// member whose check passes is back in service.
func TestDownAndBack(t *testing.T) {
	a, b := newToken(key), newToken(key)
	g, c := group(t, 1<<20, a, b)
	ses, k := loggedIn(t, c)
	for _, tok := range []*fakeToken{a, b} {
		tok.mu.Lock()
		tok.down = true
		tok.mu.Unlock()
	}
	_, err := c.Call(context.Background(), wire.CallSignInit, &wire.SignInitRequest{Session: ses, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: k})
	if !errors.Is(err, wire.CKR_DEVICE_ERROR) {
		t.Fatalf("C_SignInit with every member down: %v, want CKR_DEVICE_ERROR", err)
	}
	for _, s := range g.Stats() {
		if s.Up {
			t.Fatalf("member %s still up after failing", s.Name)
		}
	}
	b.restart()
	deadline := time.Now().Add(5 * time.Second)
	for !g.Stats()[1].Up {
		if time.Now().After(deadline) {
			t.Fatal("member b answers its check again but was not put back in service")
		}
		time.Sleep(5 * time.Millisecond)
	}
	call(t, c, wire.CallSignInit, &wire.SignInitRequest{Session: ses, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: k})
	sig := call(t, c, wire.CallSign, &wire.SignRequest{Session: ses, Data: []byte("x")}).(*wire.SignResponse).Signature
	if !bytes.Equal(sig, signature("01", []byte("x"))) {
		t.Errorf("signature after b came back: %x", sig)
	}
}

// An object that only one member holds is used there, even when another
// member is less busy.
func TestObjectOnOneMember(t *testing.T) {
	a, b := newToken(key), newToken(key, other)
	_, c := group(t, 1<<20, a, b)
	ses, _ := loggedIn(t, c)
	call(t, c, wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: ses, Template: []wire.Attribute{
		{Type: wire.CKA_LABEL, Kind: wire.KindOf(wire.CKA_LABEL), Bytes: []byte("only-on-b")}}})
	found := call(t, c, wire.CallFindObjects, &wire.FindObjectsRequest{Session: ses, MaxObjectCount: 10}).(*wire.FindObjectsResponse).Objects
	call(t, c, wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: ses})
	if len(found) != 1 {
		t.Fatalf("found %v, want the one object on b", found)
	}
	for range 3 {
		call(t, c, wire.CallSignInit, &wire.SignInitRequest{Session: ses, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: found[0]})
		sig := call(t, c, wire.CallSign, &wire.SignRequest{Session: ses, Data: []byte("y")}).(*wire.SignResponse).Signature
		if !bytes.Equal(sig, signature("02", []byte("y"))) {
			t.Fatalf("signature %x, want b's key's", sig)
		}
	}
	if a.signs != 0 || b.signs != 3 {
		t.Errorf("signatures on a %d, on b %d; want all three on b", a.signs, b.signs)
	}
}

// Calls that administer one token are refused on a group; the token info
// carries the group's name as its serial number; closing the connection
// closes its sessions on every member.
func TestRefusedInfoAndClose(t *testing.T) {
	a, b := newToken(key), newToken(key)
	_, c := group(t, 1<<20, a, b)
	ses, k := loggedIn(t, c)
	// Use both members: a busy member a sends the next operation to b.
	g := c.g
	g.members[0].busy.Add(1)
	call(t, c, wire.CallSignInit, &wire.SignInitRequest{Session: ses, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: k})
	call(t, c, wire.CallSign, &wire.SignRequest{Session: ses, Data: []byte("z")})
	g.members[0].busy.Add(-1)
	for _, tc := range []struct {
		id  wire.CallID
		req wire.Message
	}{
		{wire.CallInitToken, &wire.InitTokenRequest{SlotID: 10, Pin: wire.PIN("so"), Label: []byte("x")}},
		{wire.CallSetPIN, &wire.SetPINRequest{Session: ses, OldPin: wire.PIN(pin), NewPin: wire.PIN("new")}},
		{wire.CallGetOperationState, &wire.GetOperationStateRequest{Session: ses}},
	} {
		if _, err := c.Call(context.Background(), tc.id, tc.req); !errors.Is(err, wire.CKR_FUNCTION_NOT_SUPPORTED) {
			t.Errorf("%s on a group: %v, want CKR_FUNCTION_NOT_SUPPORTED", wire.Lookup(tc.id).Name, err)
		}
	}
	so, err := c.Call(context.Background(), wire.CallLogin, &wire.LoginRequest{Session: ses, UserType: wire.CKU_SO, Pin: wire.PIN("so")})
	if so != nil || !errors.Is(err, wire.CKR_FUNCTION_NOT_SUPPORTED) && !errors.Is(err, wire.CKR_USER_ALREADY_LOGGED_IN) {
		t.Errorf("SO login on a group: %v", err)
	}
	info := call(t, c, wire.CallGetTokenInfo, &wire.GetTokenInfoRequest{SlotID: 10}).(*wire.GetTokenInfoResponse).Info
	if info.SerialNumber != "signers         " || info.Label != "signer" {
		t.Errorf("token info serial %q label %q, want the group's name padded and the members' label", info.SerialNumber, info.Label)
	}
	if len(a.sessions) == 0 || len(b.sessions) == 0 {
		t.Fatalf("sessions on a %d, on b %d: want both members used", len(a.sessions), len(b.sessions))
	}
	c.Close(context.Background())
	if len(a.sessions)+len(b.sessions) != 0 {
		t.Errorf("after Close: %d sessions left on a, %d on b", len(a.sessions), len(b.sessions))
	}
}

// A wrong PIN is the member's answer, and keeps no PIN.
func TestWrongPIN(t *testing.T) {
	a, b := newToken(key), newToken(key)
	_, c := group(t, 1<<20, a, b)
	ses := call(t, c, wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 10, Flags: wire.CKF_SERIAL_SESSION}).(*wire.OpenSessionResponse).Session
	_, err := c.Call(context.Background(), wire.CallLogin, &wire.LoginRequest{Session: ses, UserType: wire.CKU_USER, Pin: wire.PIN("wrong")})
	if !errors.Is(err, wire.CKR_PIN_INCORRECT) {
		t.Fatalf("a wrong PIN: %v, want CKR_PIN_INCORRECT", err)
	}
	c.mu.Lock()
	kept := c.user
	c.mu.Unlock()
	if kept != nil {
		t.Errorf("the connection kept a login after a wrong PIN")
	}
}

// An operation past replay_limit whose member restarted under it ends with
// CKR_DEVICE_ERROR, not the new incarnation's CKR_OPERATION_NOT_INITIALIZED.
func TestRestartPastLimit(t *testing.T) {
	a, b := newToken(key), newToken(key)
	_, c := group(t, 8, a, b)
	ses, k := loggedIn(t, c)
	call(t, c, wire.CallSignInit, &wire.SignInitRequest{Session: ses, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: k})
	call(t, c, wire.CallSignUpdate, &wire.SignUpdateRequest{Session: ses, Part: []byte("more than eight bytes")})
	a.restart()
	if _, err := c.Call(context.Background(), wire.CallSignUpdate, &wire.SignUpdateRequest{Session: ses, Part: []byte("x")}); !errors.Is(err, wire.CKR_DEVICE_ERROR) {
		t.Fatalf("C_SignUpdate after the member restarted, past replay_limit: %v, want CKR_DEVICE_ERROR", err)
	}
}
