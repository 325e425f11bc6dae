package wire

import "strings"

// OpStep is where a call stands in its operation, C_SignInit to C_Sign or
// C_SignFinal: what a layer that moves operations elsewhere needs.
type OpStep uint8

const (
	NotOp    OpStep = iota
	OpInit          // C_EncryptInit, C_SignInit, ...
	OpUpdate        // C_EncryptUpdate, C_DigestKey, ...
	OpEnd           // a single-part call or a Final
)

var opSteps [NumCalls]OpStep

func init() {
	for id := range CallID(NumCalls) {
		d := Lookup(id)
		if d == nil || d.Family == "" {
			continue
		}
		name := strings.TrimPrefix(d.Name, "C_")
		switch {
		case strings.HasSuffix(name, "Init"):
			opSteps[id] = OpInit
		case name == d.Family || strings.HasSuffix(name, "Final"):
			opSteps[id] = OpEnd
		default:
			opSteps[id] = OpUpdate
		}
	}
}

// StepOf is call id's step in its operation family (NotOp outside one).
func StepOf(id CallID) OpStep {
	if id >= NumCalls {
		return NotOp
	}
	return opSteps[id]
}

// KeptCall is a call kept to be made again.
type KeptCall struct {
	ID  CallID
	Req Message
}

// OpLog is a session's operations under way and their calls so far, each
// Init and its updates, kept to make them again elsewhere: on a group's
// other member, or on the next broker. Once the updates' input passes
// Limit bytes the calls are dropped and Over is set: the operations can
// no longer move. The log ends when its last operation does.
type OpLog struct {
	Limit int
	Calls []KeptCall
	Over  bool
	ops   map[string]bool // families under way
	bytes int
}

// Record notes an answered call (ok: CKR_OK) at step of its operation;
// req, if not nil, is the caller's copy (Clone) for the log to keep. It
// reports whether the log kept req.
func (l *OpLog) Record(id CallID, step OpStep, req Message, ok bool) (kept bool) {
	f := Lookup(id).Family
	switch {
	case step == OpInit:
		if ok {
			if l.ops == nil {
				l.ops = map[string]bool{}
			}
			l.ops[f] = true
			kept = l.keep(id, req, false)
		}
	case step == OpEnd, !ok: // an update that fails ends its operation too
		delete(l.ops, f)
	default:
		kept = l.keep(id, req, true)
	}
	if len(l.ops) == 0 {
		l.Reset()
		return false
	}
	return kept
}

func (l *OpLog) keep(id CallID, req Message, update bool) bool {
	if req == nil || l.Over {
		return false
	}
	if update {
		n := InputBytes(req)
		if l.bytes+n > l.Limit {
			l.dropCalls()
			l.Over = true
			return false
		}
		l.bytes += n
	}
	l.Calls = append(l.Calls, KeptCall{id, req})
	return true
}

// Active reports whether an operation is under way.
func (l *OpLog) Active() bool { return len(l.ops) > 0 }

// Reset forgets every operation and zeroes the PINs its calls held (the
// C_Login of an operation's key).
func (l *OpLog) Reset() {
	l.dropCalls()
	l.ops, l.Over = nil, false
}

func (l *OpLog) dropCalls() {
	for _, k := range l.Calls {
		if q, ok := k.Req.(*LoginRequest); ok {
			clear(q.Pin)
		}
	}
	l.Calls, l.bytes = nil, 0
}
