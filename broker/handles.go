package broker

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/gop11/gop11/wire"
)

// handles maps one connection's virtual session and object handles to the
// backend's real ones. Virtual handles are random, non-zero and fit in 32
// bits (a 32-bit client's CK_ULONG), so a client cannot guess another
// connection's handles, and a handle from before a broker restart does not
// name anything after it. An unknown virtual handle maps to
// CK_INVALID_HANDLE (0), so the vendor module answers it with its own
// error code, as it would have without the proxy.
type handles struct {
	mu       sync.Mutex
	sessions map[uint64]session // virtual → real
	objects  map[uint64]uint64  // virtual → real
	virt     map[uint64]uint64  // real object → virtual
}

type session struct{ real, slot uint64 }

func newHandles() *handles {
	return &handles{sessions: map[uint64]session{}, objects: map[uint64]uint64{}, virt: map[uint64]uint64{}}
}

func (h *handles) fresh(used func(uint64) bool) uint64 {
	for {
		v := uint64(rand.Uint32())
		if v != 0 && !used(v) {
			return v
		}
	}
}

// toReal rewrites a request's handles in place.
func (h *handles) toReal(m wire.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m.Handles(func(k wire.HandleKind, p *uint64) {
		switch k {
		case wire.HSession:
			*p = h.sessions[*p].real
		case wire.HObject:
			*p = h.objects[*p]
		}
	})
}

// toVirtual rewrites a response's handles in place, minting virtual
// handles for new sessions and objects. slot is the slot a new session was
// opened on.
func (h *handles) toVirtual(m wire.Message, slot uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m.Handles(func(k wire.HandleKind, p *uint64) {
		switch k {
		case wire.HSession:
			v := h.fresh(func(v uint64) bool { _, ok := h.sessions[v]; return ok })
			h.sessions[v] = session{real: *p, slot: slot}
			*p = v
		case wire.HObject:
			if v, ok := h.virt[*p]; ok {
				*p = v
				return
			}
			v := h.fresh(func(v uint64) bool { _, ok := h.objects[v]; return ok })
			h.objects[v], h.virt[*p] = *p, v
			*p = v
		}
	})
}

func (h *handles) closeSession(v uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, v)
}

func (h *handles) closeSlot(slot uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for v, s := range h.sessions {
		if s.slot == slot {
			delete(h.sessions, v)
		}
	}
}

func (h *handles) destroyObject(v uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.objects[v]; ok {
		delete(h.objects, v)
		delete(h.virt, r)
	}
}

// realSessions lists the backend sessions still open, for cleanup.
func (h *handles) realSessions() []uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]uint64, 0, len(h.sessions))
	for _, s := range h.sessions {
		out = append(out, s.real)
	}
	return out
}

// invoke makes one call on b through the map: the request's handles
// become b's, the response's become virtual, and sessions and objects
// that the call ends are forgotten.
func (h *handles) invoke(ctx context.Context, d *wire.CallDesc, b wire.Backend, req wire.Message) (wire.Message, error) {
	virt, slot := uint64(0), uint64(0)
	switch r := req.(type) {
	case *wire.CloseSessionRequest:
		virt = r.Session
	case *wire.DestroyObjectRequest:
		virt = r.Object
	case *wire.OpenSessionRequest:
		slot = r.SlotID
	case *wire.CloseAllSessionsRequest:
		slot = r.SlotID
	}
	h.toReal(req)
	resp, err := d.Invoke(ctx, b, req)
	if err != nil {
		return nil, err
	}
	switch d.ID {
	case wire.CallCloseSession:
		h.closeSession(virt)
	case wire.CallDestroyObject:
		h.destroyObject(virt)
	case wire.CallCloseAllSessions:
		h.closeSlot(slot)
	}
	h.toVirtual(resp, slot)
	return resp, nil
}

// mapped is b seen through its own handle map: a shared module instance,
// whose handles are the vendor's own (some vendors use pointers), gets
// small per-connection handles like a worker's, which the router needs.
// (b is the connection's shared.App, which keeps C_CloseAllSessions to
// the connection's own sessions.)
func mapped(b wire.Backend) wire.Backend {
	h := newHandles()
	return wire.BackendFunc(func(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
		return h.invoke(ctx, wire.Lookup(id), b, req)
	})
}
