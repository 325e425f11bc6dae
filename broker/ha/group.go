// Package ha serves a [[group]]: tokens on several HSMs that hold the same
// keys, shown to clients as one slot. Calls are spread over the members
// that are up (fewest calls under way), and a call whose member fails is
// replayed on another one, so the application sees CKR_OK.
//
// A Group is shared by every connection and knows which members are up; a
// Conn is one connection's view of it, a wire.Backend with its own
// sessions, login and objects, each mapped onto the members as needed:
//   - an object is matched across members by class, CKA_ID and CKA_LABEL;
//   - a session opens a real session on a member when it first uses it;
//   - a login is made on each member before its first use, with the PIN
//     kept in memory only while the connection is logged in;
//   - an operation (Init to its last call) stays on one member and keeps
//     its calls, so that it can be replayed on another member.
package ha

import (
	"context"
	"encoding/hex"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Member is one token of the group as one connection reaches it.
type Member interface {
	// Call runs one call on the member's incarnation inc (a worker, a
	// module instance), or on the current one, started if need be, when
	// inc is 0; it returns the incarnation that ran it. Handles are the
	// incarnation's own. ErrDown: the member is unreachable; ErrStale:
	// incarnation inc is gone.
	Call(ctx context.Context, inc uint64, id wire.CallID, req wire.Message) (wire.Message, uint64, error)
	// Slot is the member's slot ID in its module.
	Slot() uint64
}

// ErrDown is what a Member's Call returns when it cannot reach the member.
var ErrDown = errors.New("group member is down")

// ErrStale is what a Member's Call returns when incarnation inc is gone
// (its worker or connection was replaced) though the member may be up:
// the connection's handles on it are opened again, it is not marked down.
var ErrStale = errors.New("group member restarted: handles of its previous incarnation are gone")

// Config is a group's configuration.
type Config struct {
	Name        string
	Slot        uint64   // the slot clients see
	Members     []string // names, in order of preference
	NewKeys     string   // "refuse", "replicate" or "pin" (config.NewKeys*)
	ReplayLimit int      // bytes of multi-part input kept per operation
	// ReplicationKey is the label of the AES key, on every member, that
	// new keys travel under (NewKeys "replicate").
	ReplicationKey string
	// Check tells whether member i answers again (C_GetTokenInfo through
	// a fresh connection to it); a down member is checked every Interval.
	Check    func(ctx context.Context, i int) error
	Interval time.Duration
	Log      zerolog.Logger
}

// Group is the state of a group's members, shared by every connection.
type Group struct {
	cfg     Config
	members []*memberState
	partial sync.Map // objKey → *partialObject: objects some members lack
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

type memberState struct {
	name  string
	down  atomic.Bool
	busy  atomic.Int64  // calls under way, every connection
	calls atomic.Uint64 // calls answered
}

// New makes a group's shared state; Close stops its health checks.
func New(cfg Config) *Group {
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	g := &Group{cfg: cfg}
	g.ctx, g.stop = context.WithCancel(context.Background())
	for _, n := range cfg.Members {
		g.members = append(g.members, &memberState{name: n})
	}
	return g
}

// Close stops the health checks.
func (g *Group) Close() {
	g.stop()
	g.wg.Wait()
}

// Name is the group's name.
func (g *Group) Name() string { return g.cfg.Name }

// MemberStat is one member's state, for logs and status.
type MemberStat struct {
	Name  string `json:"name"`
	Up    bool   `json:"up"`
	Busy  int64  `json:"busy"`
	Calls uint64 `json:"calls"`
}

// Stats reports every member's state.
func (g *Group) Stats() []MemberStat {
	out := make([]MemberStat, len(g.members))
	for i, m := range g.members {
		out[i] = MemberStat{Name: m.name, Up: !m.down.Load(), Busy: m.busy.Load(), Calls: m.calls.Load()}
	}
	return out
}

// PartialObject is an object some members lack, as a connection found.
type PartialObject struct {
	Class     string   `json:"class"`
	Label     string   `json:"label"`
	ID        string   `json:"id"` // hex
	MissingOn []string `json:"missing_on"`
}

type partialObject struct {
	mu      sync.Mutex
	missing map[int]bool
}

// notePartial records that member i lacks the object with key k.
func (g *Group) notePartial(k objKey, i int) {
	v, _ := g.partial.LoadOrStore(k, &partialObject{missing: map[int]bool{}})
	p := v.(*partialObject)
	p.mu.Lock()
	p.missing[i] = true
	p.mu.Unlock()
}

// Partial lists the objects some members lack (gop11 status).
func (g *Group) Partial() []PartialObject {
	var out []PartialObject
	g.partial.Range(func(k, v any) bool {
		key, p := k.(objKey), v.(*partialObject)
		po := PartialObject{Class: wire.ObjectClassName(key.class), Label: key.label, ID: hex.EncodeToString([]byte(key.id))}
		p.mu.Lock()
		for i, m := range g.members {
			if p.missing[i] {
				po.MissingOn = append(po.MissingOn, m.name)
			}
		}
		p.mu.Unlock()
		out = append(out, po)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Label+out[i].ID+out[i].Class < out[j].Label+out[j].ID+out[j].Class })
	return out
}

// markDown takes member i out of service until a health check succeeds.
func (g *Group) markDown(i int, why error) {
	m := g.members[i]
	if !m.down.CompareAndSwap(false, true) {
		return
	}
	g.cfg.Log.Warn().Str("group", g.cfg.Name).Str("member", m.name).Err(why).Msg("group member down: its calls go to the other members")
	if g.cfg.Check == nil || g.ctx.Err() != nil {
		return
	}
	g.wg.Add(1)
	go g.watch(i)
}

// watch checks a down member until it answers, then puts it back.
func (g *Group) watch(i int) {
	defer g.wg.Done()
	m := g.members[i]
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for failures := 0; ; failures++ {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(g.ctx, 30*time.Second)
		err := g.cfg.Check(ctx, i)
		cancel()
		if err == nil {
			m.down.Store(false)
			g.cfg.Log.Info().Str("group", g.cfg.Name).Str("member", m.name).Int("failed_checks", failures).Uint64("calls", m.calls.Load()).
				Msg("group member up: it takes calls again")
			return
		}
		if failures == 0 || failures%60 == 0 {
			g.cfg.Log.Info().Str("group", g.cfg.Name).Str("member", m.name).Err(err).Msg("group member still down")
		}
	}
}

// pick chooses the member for a call: among those allowed and not in
// tried, the up member with the fewest calls under way (ties: the first
// listed); when none is up, the first allowed one not tried, since a
// call is a check too. -1: none left.
func (g *Group) pick(allowed func(int) bool, tried []bool) int {
	best, fallback := -1, -1
	for i, m := range g.members {
		if tried[i] || (allowed != nil && !allowed(i)) {
			continue
		}
		if fallback < 0 {
			fallback = i
		}
		if m.down.Load() {
			continue
		}
		if best < 0 || m.busy.Load() < g.members[best].busy.Load() {
			best = i
		}
	}
	if best < 0 {
		return fallback
	}
	return best
}

// Failed reports whether err means the member, not the call, failed: the
// call is then replayed on another member.
func Failed(err error) bool {
	if errors.Is(err, ErrDown) {
		return true
	}
	var rv wire.RV
	if errors.As(err, &rv) {
		switch rv {
		case wire.CKR_DEVICE_ERROR, wire.CKR_DEVICE_REMOVED, wire.CKR_TOKEN_NOT_PRESENT, wire.CKR_DEVICE_MEMORY:
			return true
		}
	}
	return false
}
