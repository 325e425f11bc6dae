package client

import (
	"strings"

	"github.com/gop11/gop11/wire"
)

// Some modules let an application mix an operation's functions after a
// size query: SoftHSM2, asked for C_Encrypt's output length, keeps the
// operation, and a C_EncryptUpdate then continues it; asked for
// C_DigestFinal's, a C_Digest then digests. Through gop11 the broker
// answers a size query with the whole output in one round trip, which
// ends the operation in the module. So when the application calls another
// function of the family while such an output is kept, the client drops
// the output and starts the operation again in the module, its Init and
// the updates since (up to trailLimit bytes of input), before the call:
// the state the module would have been in.

// trailLimit bounds the update input a session keeps per operation for
// that; an operation past it is not started again (its next call answers
// as the module does for an operation that ended).
const trailLimit = 64 << 10

// trail is what starts an operation again: its Init and updates.
type trail struct {
	calls []wire.KeptCall // the Init first
	bytes int
	over  bool
}

// Mixing reports whether call id mixes an operation's functions while
// another function's output is kept (see above); it then drops that
// output and returns the calls that start the operation again (none if
// the session has not kept them).
func (s *Session) Mixing(id wire.CallID) ([]wire.KeptCall, bool) {
	if step := wire.StepOf(id); step != wire.OpUpdate && step != wire.OpEnd {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) == 0 {
		return nil, false
	}
	f := wire.Lookup(id).Family
	mixing := false
	for k := range s.kept {
		if k != id && wire.Lookup(k).Family == f {
			delete(s.kept, k)
			mixing = true
		}
	}
	if !mixing {
		return nil, false
	}
	t := s.trails[f]
	if t == nil || t.over {
		return nil, true
	}
	return t.calls, true
}

// Record notes an operation call's outcome for Mixing: an Init starts the
// family's trail, an update adds a copy of its input while within
// trailLimit, and a failure ends the trail as it ends the operation.
func (s *Session) Record(id wire.CallID, req wire.Message, ok bool) {
	step := wire.StepOf(id)
	if step == wire.NotOp || step == wire.OpEnd {
		return
	}
	f := wire.Lookup(id).Family
	if strings.HasPrefix(f, "Message") {
		return // v3.0 message operations pass their outputs through: nothing is kept, nothing mixes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		delete(s.trails, f)
		return
	}
	if step == wire.OpInit {
		if s.trails == nil {
			s.trails = map[string]*trail{}
		}
		t := s.trails[f]
		if t == nil {
			t = &trail{}
			s.trails[f] = t
		}
		// An Init request holds no memory of the application's (its
		// mechanism parameter is copied): it is kept as it is.
		clear(t.calls)
		t.calls, t.bytes, t.over = append(t.calls[:0], wire.KeptCall{ID: id, Req: req}), 0, false
		return
	}
	t := s.trails[f]
	if t == nil || t.over {
		return
	}
	if n := wire.InputBytes(req); t.bytes+n <= trailLimit {
		t.calls, t.bytes = append(t.calls, wire.KeptCall{ID: id, Req: wire.Clone(req)}), t.bytes+n
	} else {
		t.over, t.calls = true, nil
	}
}
