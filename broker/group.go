package broker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/broker/ha"
	"github.com/gop11/gop11/broker/remote"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// groupRoute is a [[group]] in a snapshot: its slot, its shared state and
// where its members are. Its handles carry idx as a module's do.
type groupRoute struct {
	idx     int
	cfg     config.Group
	g       *ha.Group
	members []groupMember
}

// groupMember is a [[token]] of one of this broker's modules (local: its
// module and real slot) or a [[remote]].
type groupMember struct {
	local  *route
	remote *remote.Target
}

// sameGroup: a group whose settings and members did not change keeps its
// state (and its handles) across a reload.
func sameGroup(a *groupRoute, cfg config.Group, members []groupMember) bool {
	a1, b1 := a.cfg, cfg
	a1.Line, b1.Line = 0, 0
	if !reflect.DeepEqual(a1, b1) || len(a.members) != len(members) {
		return false
	}
	for i, m := range members {
		o := a.members[i]
		switch {
		case m.local != nil:
			if o.local == nil || o.local.mod != m.local.mod || o.local.real != m.local.real {
				return false
			}
		case o.remote == nil:
			return false
		default:
			ra, rb := o.remote.Config(), m.remote.Config()
			ra.Line, rb.Line = 0, 0
			if !reflect.DeepEqual(ra, rb) {
				return false
			}
		}
	}
	return true
}

// buildGroups adds cfg's groups to next; named holds the named tokens
// that were found in their modules.
func (s *Server) buildGroups(cfg *config.Config, prev, next *snapshot, named map[string]*route) {
	for _, gc := range cfg.Groups {
		var members []groupMember
		var names []string
		for _, n := range gc.Members {
			if r := named[n]; r != nil {
				members = append(members, groupMember{local: r})
				names = append(names, n)
			} else if rc := cfg.Remote(n); rc != nil {
				members = append(members, groupMember{remote: remote.New(*rc, s.Log)})
				names = append(names, n)
			} else {
				s.Log.Warn().Str("group", gc.Name).Str("member", n).Msg("group member's token not found: the group is served without it")
			}
		}
		if len(members) == 0 {
			s.Log.Error().Str("group", gc.Name).Uint64("slot", gc.Slot).Msg("no member of the group was found: slot not served")
			continue
		}
		var gr *groupRoute
		if prev != nil {
			for _, pg := range prev.groups {
				if pg.cfg.Name == gc.Name && sameGroup(pg, gc, members) {
					gr = pg
				}
			}
		}
		if gr == nil {
			gr = &groupRoute{idx: s.nextModule, cfg: gc, members: members}
			s.nextModule++
			log := s.Log.With().Str("group", gc.Name).Logger()
			gr.g = ha.New(ha.Config{Name: gc.Name, Slot: gc.Slot, Members: names, NewKeys: gc.NewKeys,
				ReplayLimit: gc.ReplayLimit, ReplicationKey: strings.TrimPrefix(gc.ReplicationKey, "label:"), Log: s.Log,
				Check: func(ctx context.Context, i int) error {
					if t := members[i].remote; t != nil {
						return t.Check(ctx)
					}
					return s.checkMember(ctx, members[i].local, log)
				}})
		}
		next.groups[gr.idx] = gr
		s.Log.Info().Str("group", gc.Name).Uint64("slot", gc.Slot).Strs("members", names).Str("new_keys", gc.NewKeys).Msg("group served")
	}
}

// checkMember is a group's health check of one member: its token answers
// C_GetTokenInfo through a fresh member (a new worker, if it died).
func (s *Server) checkMember(ctx context.Context, r *route, log zerolog.Logger) error {
	m, err := s.startMember(r.mod, 0, 0, "broker", log)
	if err != nil {
		return err
	}
	defer m.stop()
	_, err = m.invoke(ctx, wire.Lookup(wire.CallGetTokenInfo), &wire.GetTokenInfoRequest{SlotID: r.real})
	return err
}

// closeGroups stops the health checks of prev's groups that next dropped.
func closeGroups(prev, next *snapshot) {
	if prev == nil {
		return
	}
	for idx, g := range prev.groups {
		if next.groups[idx] != g {
			g.g.Close()
		}
	}
}

// groupLink is one group member as one connection reaches it: the
// connection's member for the token's module.
type groupLink struct {
	r    *router
	snap *snapshot
	at   *route
}

func (l groupLink) Slot() uint64 { return l.at.real }

func (l groupLink) Call(ctx context.Context, inc uint64, id wire.CallID, req wire.Message) (wire.Message, uint64, error) {
	m, err := l.r.member(l.snap, l.at.mod.idx, uint16(inc), inc != 0)
	if err != nil {
		if inc != 0 {
			return nil, 0, fmt.Errorf("%w: %s: worker %d is gone", ha.ErrStale, l.at.mod.cfg.Name, inc)
		}
		return nil, 0, fmt.Errorf("%w: %v", ha.ErrDown, err)
	}
	resp, err := m.invoke(ctx, wire.Lookup(id), req)
	if errors.Is(err, errMemberDied) {
		l.r.lost(l.snap, m)
		return nil, 0, fmt.Errorf("%w: %s: its worker died", ha.ErrDown, l.at.mod.cfg.Name)
	}
	return resp, uint64(m.gen), err
}

// groupConn is the connection's view of group gr, made at first use.
func (r *router) groupConn(snap *snapshot, gr *groupRoute) *ha.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.groups[gr.idx]; c != nil {
		return c
	}
	links := make([]ha.Member, len(gr.members))
	for i, m := range gr.members {
		if m.remote != nil {
			l := m.remote.Link()
			r.remotes = append(r.remotes, l)
			links[i] = l
		} else {
			links[i] = groupLink{r: r, snap: snap, at: m.local}
		}
	}
	c := gr.g.Conn(links, r.log)
	r.groups[gr.idx] = c
	return c
}

// groupCall serves a call on a group's slot, session or object: the
// group's handles become the router's, tagged with the group's index.
func (r *router) groupCall(ctx context.Context, snap *snapshot, gr *groupRoute, id wire.CallID, req wire.Message) (wire.Message, error) {
	resp, err := r.groupConn(snap, gr).Call(ctx, id, req)
	if err != nil {
		return nil, err
	}
	resp.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HSession || k == wire.HObject {
			*p = encode(gr.idx, 0, *p)
		}
	})
	return resp, nil
}

// groupOf is the group that slot v is, or nil.
func (s *snapshot) groupOf(v uint64) *groupRoute {
	for _, g := range s.groups {
		if g.cfg.Slot == v {
			return g
		}
	}
	return nil
}
