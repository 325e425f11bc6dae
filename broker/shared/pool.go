package shared

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Pool puts many sessions on few: HSMs cap the sessions of a partition
// (and some count every open one against all their clients), while
// applications open a session per thread and keep it. Above it a session
// is virtual; it holds a real session of the module only while it must
// (an operation or a search under way, session objects it made, saved
// operation state) and otherwise borrows an idle one for each call. With
// Max real sessions open, a call waits for one to come free, up to Wait;
// then it answers CKR_SESSION_COUNT.
type Pool struct {
	next wire.Backend
	max  int
	wait time.Duration
	log  zerolog.Logger

	mu       sync.Mutex
	freed    *sync.Cond
	open     int                  // real sessions open
	idle     map[poolKey][]uint64 // real sessions free to borrow
	virt     map[uint64]*vsession // by virtual handle
	nextVirt uint64
}

type poolKey struct {
	slot uint64
	rw   bool
}

// vsession is a virtual session. real is its real session while it holds
// or borrows one (0: none).
type vsession struct {
	key     poolKey
	flags   uint64
	real    uint64
	busy    bool            // a call of it is under way (calls on one session are serial)
	ops     map[string]bool // operation families under way
	find    bool
	objects bool // it made objects in its real session: keep it
	saved   bool // C_GetOperationState: its state lives in the real session
}

func (v *vsession) holds() bool { return len(v.ops) > 0 || v.find || v.objects || v.saved }

// NewPool pools next's sessions: at most max open at once, a call waiting
// up to wait for one.
func NewPool(next wire.Backend, max int, wait time.Duration, log zerolog.Logger) *Pool {
	p := &Pool{next: next, max: max, wait: wait, log: log, idle: map[poolKey][]uint64{}, virt: map[uint64]*vsession{}}
	p.freed = sync.NewCond(&p.mu)
	return p
}

// Counts are the real sessions open and the virtual ones.
func (p *Pool) Counts() (real, virtual int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, len(p.virt)
}

// Call is the Pool as a wire.Backend.
func (p *Pool) Call(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
	d := wire.Lookup(id)
	switch q := req.(type) {
	case *wire.OpenSessionRequest:
		return p.openSession(ctx, q)
	case *wire.CloseSessionRequest:
		return &wire.CloseSessionResponse{}, p.closeSession(ctx, q.Session)
	case *wire.CloseAllSessionsRequest:
		// The App above closes one connection's sessions one by one; the
		// module's own would close every connection's.
		return nil, wire.CKR_FUNCTION_NOT_SUPPORTED
	}
	if !d.Session {
		return d.Invoke(ctx, p.next, req)
	}
	var vh uint64
	req.Handles(func(k wire.HandleKind, h *uint64) {
		if k == wire.HSession {
			vh = *h
		}
	})
	v, err := p.take(ctx, vh)
	if err != nil {
		return nil, err
	}
	req.Handles(func(k wire.HandleKind, h *uint64) {
		if k == wire.HSession {
			*h = v.real
		}
	})
	resp, err := d.Invoke(ctx, p.next, req)
	p.after(ctx, d, v, err)
	return resp, err
}

// openSession opens a virtual session: the module is asked, on a real
// session it lends, whether the slot and flags are good, so that a bad
// C_OpenSession answers as the module would.
func (p *Pool) openSession(ctx context.Context, q *wire.OpenSessionRequest) (wire.Message, error) {
	v := &vsession{key: poolKey{q.SlotID, q.Flags&wire.CKF_RW_SESSION != 0}, flags: q.Flags, busy: true}
	if err := p.borrow(ctx, v); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.nextVirt++
	h := p.nextVirt
	p.virt[h] = v
	p.mu.Unlock()
	p.release(ctx, v)
	return &wire.OpenSessionResponse{Session: h}, nil
}

// take marks v busy and gives it a real session.
func (p *Pool) take(ctx context.Context, vh uint64) (*vsession, error) {
	p.mu.Lock()
	v := p.virt[vh]
	if v == nil {
		p.mu.Unlock()
		return nil, wire.CKR_SESSION_HANDLE_INVALID
	}
	for v.busy {
		p.freed.Wait() // another thread's call on the same session
	}
	v.busy = true
	has := v.real != 0
	p.mu.Unlock()
	if has {
		return v, nil
	}
	if err := p.borrow(ctx, v); err != nil {
		p.mu.Lock()
		v.busy = false
		p.freed.Broadcast()
		p.mu.Unlock()
		return nil, err
	}
	return v, nil
}

// borrow gives v a real session: an idle one of its slot and kind, a new
// one while fewer than max are open, or the first to come free.
func (p *Pool) borrow(ctx context.Context, v *vsession) error {
	deadline := time.Now().Add(p.wait)
	timer := time.AfterFunc(p.wait, func() {
		p.mu.Lock()
		p.freed.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	logged := false
	for {
		if l := p.idle[v.key]; len(l) > 0 {
			v.real = l[len(l)-1]
			p.idle[v.key] = l[:len(l)-1]
			p.mu.Unlock()
			return nil
		}
		if p.open < p.max {
			p.open++
			p.mu.Unlock()
			resp, err := p.next.OpenSession(ctx, &wire.OpenSessionRequest{SlotID: v.key.slot, Flags: v.flags | wire.CKF_SERIAL_SESSION})
			if err != nil {
				p.mu.Lock()
				p.open--
				p.freed.Broadcast()
				p.mu.Unlock()
				return err
			}
			v.real = resp.Session
			return nil
		}
		if p.evictIdle() {
			continue // an idle session of another kind made room
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			p.mu.Unlock()
			p.log.Warn().Int("max_real_sessions", p.max).Dur("waited", p.wait).Msg("no real session came free: CKR_SESSION_COUNT")
			return wire.CKR_SESSION_COUNT
		}
		if !logged {
			p.log.Debug().Int("max_real_sessions", p.max).Msg("all real sessions in use: waiting")
			logged = true
		}
		p.freed.Wait()
	}
}

// evictIdle closes one idle real session of any kind to make room; with
// p.mu held, which it drops for the close.
func (p *Pool) evictIdle() bool {
	for k, l := range p.idle {
		if len(l) == 0 {
			continue
		}
		h := l[len(l)-1]
		p.idle[k] = l[:len(l)-1]
		p.mu.Unlock()
		p.next.CloseSession(context.Background(), &wire.CloseSessionRequest{Session: h})
		p.mu.Lock()
		p.open--
		return true
	}
	return false
}

// after records what the call did to v's real session and gives it back
// unless v must keep it.
func (p *Pool) after(ctx context.Context, d *wire.CallDesc, v *vsession, err error) {
	name := strings.TrimPrefix(d.Name, "C_")
	ok := err == nil
	switch {
	case d.ID == wire.CallFindObjectsInit:
		v.find = ok
	case d.ID == wire.CallFindObjectsFinal:
		v.find = false
	case d.ID == wire.CallGetOperationState && ok, d.ID == wire.CallSetOperationState && ok:
		v.saved = true
	case creates[d.ID] && ok:
		v.objects = true
	case d.Family != "" && strings.HasSuffix(name, "Init"):
		if ok {
			if v.ops == nil {
				v.ops = map[string]bool{}
			}
			v.ops[d.Family] = true
		}
	case d.Family != "" && (strings.HasSuffix(name, "Final") || name == d.Family):
		// The operation ends, unless the module kept it for a larger
		// buffer; on other errors it is the module's to say, so the
		// session stays held.
		if ok {
			delete(v.ops, d.Family)
		}
	}
	p.release(ctx, v)
}

// release ends v's call: its real session goes back to the idle list
// unless v holds it.
func (p *Pool) release(ctx context.Context, v *vsession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v.busy = false
	if !v.holds() && v.real != 0 {
		p.idle[v.key] = append(p.idle[v.key], v.real)
		v.real = 0
	}
	p.freed.Broadcast()
}

// closeSession ends a virtual session. A real session it holds is closed
// (its operations and session objects end with it); one it merely
// borrowed was given back already.
func (p *Pool) closeSession(ctx context.Context, vh uint64) error {
	p.mu.Lock()
	v := p.virt[vh]
	if v == nil {
		p.mu.Unlock()
		return wire.CKR_SESSION_HANDLE_INVALID
	}
	for v.busy {
		p.freed.Wait()
	}
	delete(p.virt, vh)
	real := v.real
	v.real = 0
	p.mu.Unlock()
	if real == 0 {
		return nil
	}
	_, err := p.next.CloseSession(ctx, &wire.CloseSessionRequest{Session: real})
	p.mu.Lock()
	p.open--
	p.freed.Broadcast()
	p.mu.Unlock()
	if err != nil && !errors.Is(err, wire.CKR_SESSION_HANDLE_INVALID) {
		return err
	}
	return nil
}

// reset forgets every session: the module instance was replaced.
func (p *Pool) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open = 0
	clear(p.idle)
	clear(p.virt)
	p.freed.Broadcast()
}
