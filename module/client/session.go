package client

import (
	"slices"
	"sync"

	"github.com/gop11/gop11/wire"
)

// Session is one application session. It keeps an output the application
// has not yet collected: the broker always returns the whole output of a
// call (its vendor call made both C calls), so a size query or a short
// buffer costs no second round trip, and the output stays until a big
// enough buffer asks for it, as the spec's two-call convention requires.
type Session struct {
	Handle uint64 // the application's
	Slot   uint64
	conn   *wire.Client
	real   uint64 // the session's handle on conn: Handle, unless restored after a failover
	flags  uint64
	fs     foSession // what restores the session on another broker

	mu     sync.Mutex
	kept   map[wire.CallID]keptOutput
	attrs  *keptAttrs
	trails map[string]*trail // by operation family (trail.go)
	msg    map[string]uint64 // message operation family → its mechanism
}

type keptOutput struct {
	out  []byte
	hint uint64 // the vendor's answer to the size query
}

type keptAttrs struct {
	object uint64
	types  []uint64
	values []wire.AttrResult
}

// Kept returns the output kept for call id and the vendor's size hint.
func (s *Session) Kept(id wire.CallID) ([]byte, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kept[id]
	return k.out, k.hint, ok
}

// Keep stores the output of call id until the application collects it.
func (s *Session) Keep(id wire.CallID, out []byte, hint uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept == nil {
		s.kept = make(map[wire.CallID]keptOutput, 1)
	}
	s.kept[id] = keptOutput{out, hint}
}

// Collected drops the output of call id: the application has it, and
// the operation is over.
func (s *Session) Collected(id wire.CallID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.kept, id)
	if d := wire.Lookup(id); d != nil && d.Family != "" && len(s.trails) > 0 {
		delete(s.trails, d.Family)
	}
}

// Keeps reports whether an output of operation family f is still waiting:
// the operation is then still active, so its Init must say
// CKR_OPERATION_ACTIVE as the vendor module would.
func (s *Session) Keeps(f string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.kept {
		if d := wire.Lookup(id); d != nil && d.Family == f {
			return true
		}
	}
	return false
}

// KeptAttrs returns attribute values kept from a C_GetAttributeValue size
// query of the same object and types.
func (s *Session) KeptAttrs(object uint64, types []uint64) ([]wire.AttrResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.attrs
	if k == nil || k.object != object || !slices.Equal(k.types, types) {
		return nil, false
	}
	return k.values, true
}

// KeepAttrs keeps values for the application's next C_GetAttributeValue;
// nil values forget them.
func (s *Session) KeepAttrs(object uint64, types []uint64, values []wire.AttrResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if values == nil {
		s.attrs = nil
		return
	}
	s.attrs = &keptAttrs{object: object, types: slices.Clone(types), values: values}
}

// MessageMechanism is the mechanism of the session's message operation
// of family f (MessageEncrypt, ...), which gives its parameters' layout.
func (s *Session) MessageMechanism(f string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msg[f]
	return m, ok
}

// SetMessageMechanism records the mechanism a message operation of family
// f was started with; 0 forgets it.
func (s *Session) SetMessageMechanism(f string, mech uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mech == 0 {
		delete(s.msg, f)
		return
	}
	if s.msg == nil {
		s.msg = make(map[string]uint64, 1)
	}
	s.msg[f] = mech
}

// Cancel forgets everything kept of operation family f: C_SessionCancel
// ended it.
func (s *Session) Cancel(f string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.kept {
		if d := wire.Lookup(id); d != nil && d.Family == f {
			delete(s.kept, id)
		}
	}
	delete(s.trails, f)
	delete(s.msg, f)
}
