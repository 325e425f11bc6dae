package broker

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/gop11/gop11/broker/ha"
	"github.com/gop11/gop11/broker/remote"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Handles a router hands to ServeConn carry the member they belong to:
// bits 56-63 the module (its index + 1), 40-55 the member's generation,
// 0-39 the member's own handle. ServeConn then gives the client its
// random 32-bit virtual handles for them.
const (
	handleBits = 40
	genBits    = 16
)

func encode(mod int, gen uint16, h uint64) uint64 {
	return uint64(mod+1)<<(handleBits+genBits) | uint64(gen)<<handleBits | h
}

func decode(h uint64) (mod int, gen uint16, member uint64) {
	return int(h>>(handleBits+genBits)) - 1, uint16(h >> handleBits), h & (1<<handleBits - 1)
}

// router is one connection's Backend in config mode: it answers
// C_GetInfo, C_GetSlotList and C_WaitForSlotEvent itself, and sends every
// other call to the member that owns its slot, session or object.
type router struct {
	srv  *Server
	log  zerolog.Logger
	conn uint64 // the connection's number, given to its workers for their logs
	who  string // the connection's identity (acl.Identity.Key)

	mu      sync.Mutex
	members map[int]*member  // by module index
	groups  map[int]*ha.Conn // by group index
	remotes []*remote.Link   // the groups' links to remote brokers
	gens    map[int]uint16   // last generation started, per module
	events  []uint64         // virtual slots with an event not yet reported
	notify  chan struct{}
	seen    *snapshot
	since   time.Time // connected
}

func newRouter(s *Server, conn uint64, who string, log zerolog.Logger) *router {
	return &router{srv: s, log: log, conn: conn, who: who, members: map[int]*member{}, groups: map[int]*ha.Conn{}, gens: map[int]uint16{}, notify: make(chan struct{}, 1), seen: s.snap.Load(), since: time.Now()}
}

// brokerInfo is what C_GetInfo says in config mode: the library is
// gop11, whatever modules serve the slots.
var brokerInfo = wire.Info{
	CryptokiVersion:    wire.Version{Major: 2, Minor: 40},
	ManufacturerID:     "gop11",
	LibraryDescription: "gop11 PKCS #11 proxy",
	LibraryVersion:     wire.Version{Major: 0, Minor: 1},
}

func (r *router) call(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
	snap := r.srv.snap.Load()
	switch q := req.(type) {
	case *wire.GetInfoRequest:
		info := brokerInfo
		if q.V3 {
			info.CryptokiVersion = wire.Version{Major: 3, Minor: 0} // asked through gop11's v3.0 list
		}
		return &wire.GetInfoResponse{Info: info}, nil
	case *wire.GetSlotListRequest:
		return &wire.GetSlotListResponse{SlotList: snap.virtualSlots()}, nil
	case *wire.WaitForSlotEventRequest:
		return r.waitForSlotEvent(ctx, q.Flags)
	case *wire.GetInterfaceListRequest:
		return r.interfaces(ctx, snap), nil
	}
	d := wire.Lookup(id)
	target, gen := -1, uint16(0)
	byHandle := false
	var group *groupRoute
	var bad wire.RV
	// The session decides the member; objects of another member (or of an
	// old generation) become CK_INVALID_HANDLE so the vendor answers them.
	// A group's slot and session go to the group, which maps them itself.
	req.Handles(func(k wire.HandleKind, p *uint64) {
		switch k {
		case wire.HSlot:
			if group = snap.groupOf(*p); group != nil {
				target = group.idx
				return
			}
			route := snap.slots[*p]
			if route == nil {
				bad = wire.CKR_SLOT_ID_INVALID
				return
			}
			target, *p = route.mod.idx, route.real
		case wire.HSession:
			m, g, h := decode(*p)
			if group = snap.groups[m]; group != nil && *p != 0 {
				target, *p = m, h
				return
			}
			if *p == 0 || snap.modules[m] == nil { // unknown, or its module was removed or replaced
				bad = wire.CKR_SESSION_HANDLE_INVALID
				return
			}
			target, gen, byHandle, *p = m, g, true, h
		}
	})
	if bad != 0 {
		return nil, bad
	}
	req.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HObject {
			if m, g, h := decode(*p); m == target && g == gen && *p != 0 {
				*p = h
			} else {
				*p = 0
			}
		}
	})
	if target < 0 {
		r.log.Error().Str("call", d.Name).Msg("call names no slot, session or object: not routable")
		return nil, wire.CKR_FUNCTION_NOT_SUPPORTED
	}
	if group != nil {
		return r.groupCall(ctx, snap, group, id, req)
	}
	m, err := r.member(snap, target, gen, byHandle)
	if err != nil {
		return nil, err
	}
	var start time.Time
	if r.srv.Metrics != nil {
		start = time.Now()
	}
	resp, err := m.invoke(ctx, d, req)
	if r.srv.Metrics != nil {
		r.srv.Metrics.ModuleCall(m.mod.cfg.Name, d.ID, time.Since(start))
	}
	if errors.Is(err, errMemberDied) {
		r.lost(snap, m)
		return nil, wire.CKR_DEVICE_ERROR
	}
	if err != nil {
		return nil, err
	}
	resp.Handles(func(k wire.HandleKind, p *uint64) {
		switch k {
		case wire.HSession, wire.HObject:
			// Members' handles are 32-bit: a worker's are virtual, and a
			// shared in-process module is seen through mapped().
			*p = encode(target, m.gen, *p)
		case wire.HSlot:
			*p = snap.virtualOf(target, *p)
		}
	})
	return resp, nil
}

// interfaces answers C_GetInterfaceList for the broker: "PKCS 11" 2.40,
// and 3.0 when one of its modules offers 3.x (a v3.0 call that reaches a
// v2.40 module answers CKR_FUNCTION_NOT_SUPPORTED there). Each module is
// asked once, by the first connection that needs it.
func (r *router) interfaces(ctx context.Context, snap *snapshot) *wire.GetInterfaceListResponse {
	v3 := false
	for idx, mod := range snap.modules {
		if mod.offersV3(func() ([]wire.Interface, error) {
			m, err := r.member(snap, idx, 0, false)
			if err != nil {
				return nil, err
			}
			resp, err := m.invoke(ctx, wire.Lookup(wire.CallGetInterfaceList), &wire.GetInterfaceListRequest{})
			if err != nil {
				return nil, err
			}
			return resp.(*wire.GetInterfaceListResponse).Interfaces, nil
		}) {
			v3 = true
			break
		}
	}
	list := []wire.Interface{{Name: "PKCS 11", Version: wire.Version{Major: 2, Minor: 40}}}
	if v3 {
		list = append([]wire.Interface{{Name: "PKCS 11", Version: wire.Version{Major: 3, Minor: 0}}}, list...)
	}
	return &wire.GetInterfaceListResponse{Interfaces: list}
}

// member returns the connection's member for module idx, starting one if
// needed. A handle of an older generation names a session or object of a
// worker that died: CKR_SESSION_HANDLE_INVALID, no restart.
func (r *router) member(snap *snapshot, idx int, gen uint16, byHandle bool) (*member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.members[idx]
	if byHandle {
		if m == nil || m.gen != gen || m.isDead() {
			return nil, wire.CKR_SESSION_HANDLE_INVALID
		}
		return m, nil
	}
	if m != nil && !m.isDead() {
		return m, nil
	}
	r.gens[idx]++
	m, err := r.srv.startMember(snap.modules[idx], r.gens[idx], r.conn, r.who, r.log)
	if err != nil {
		r.log.Error().Err(err).Msg("cannot start a worker")
		return nil, wire.CKR_DEVICE_ERROR
	}
	r.members[idx] = m
	return m, nil
}

// lost records a member's death: its slots report an event (the token
// went away and, at the next call, comes back).
func (r *router) lost(snap *snapshot, m *member) {
	r.mu.Lock()
	if r.members[m.mod.idx] == m {
		delete(r.members, m.mod.idx)
	}
	r.mu.Unlock()
	r.event(snap.slotsOf(m.mod.idx)...)
}

func (r *router) event(slots ...uint64) {
	if len(slots) == 0 {
		return
	}
	r.mu.Lock()
	r.events = append(r.events, slots...)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// reloaded reports the slots that appeared or disappeared with a new config.
func (r *router) reloaded(next *snapshot) {
	r.mu.Lock()
	prev := r.seen
	r.seen = next
	r.mu.Unlock()
	var changed []uint64
	for v, a := range next.slots {
		if b := prev.slots[v]; b == nil || b.mod.cfg.Name != a.mod.cfg.Name || b.real != a.real {
			changed = append(changed, v)
		}
	}
	for v := range prev.slots {
		if next.slots[v] == nil {
			changed = append(changed, v)
		}
	}
	for idx, g := range next.groups {
		if prev.groups[idx] != g {
			changed = append(changed, g.cfg.Slot)
		}
	}
	for idx, g := range prev.groups {
		if next.groups[idx] == nil {
			changed = append(changed, g.cfg.Slot)
		}
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i] < changed[j] })
	r.event(changed...)
}

func (r *router) waitForSlotEvent(ctx context.Context, flags uint64) (wire.Message, error) {
	for {
		r.mu.Lock()
		if len(r.events) > 0 {
			s := r.events[0]
			r.events = r.events[1:]
			r.mu.Unlock()
			return &wire.WaitForSlotEventResponse{Slot: s}, nil
		}
		r.mu.Unlock()
		if flags&wire.CKF_DONT_BLOCK != 0 {
			return nil, wire.CKR_NO_EVENT
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			return nil, wire.CKR_CRYPTOKI_NOT_INITIALIZED
		}
	}
}

// close stops every member, in parallel: their workers finalize their
// modules and exit.
func (r *router) close() {
	r.mu.Lock()
	gs := r.groups
	r.groups = map[int]*ha.Conn{}
	r.mu.Unlock()
	for _, c := range gs {
		c.Close(context.Background())
	}
	r.mu.Lock()
	ls := r.remotes
	r.remotes = nil
	r.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	r.mu.Lock()
	ms := r.members
	r.members = map[int]*member{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.stop()
		}()
	}
	wg.Wait()
}
