package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/broker/ha"
	"github.com/gop11/gop11/wire"
)

// admin answers gop11 status and gop11 slots (wire.CallAdmin) for a
// connection whose peer is the broker's own uid or root, on the unix
// socket: the state it shows (modules, workers, identities) is the
// administrator's.
func (s *Server) admin(ident acl.Identity, policy func() *acl.Policy) func(ctx context.Context, command string) ([]byte, error) {
	return func(ctx context.Context, command string) ([]byte, error) {
		owner := ident.Unix && (ident.UID == 0 || ident.UID == os.Geteuid())
		if p := policy(); !owner && (p == nil || !p.Admin) {
			return nil, fmt.Errorf("%s: admin requests are for root, the broker's own user and [[client]]s with admin = true", ident)
		}
		switch command {
		case "status":
			return json.Marshal(s.status())
		case "slots":
			return json.Marshal(s.slotsInfo(ctx))
		case "reload":
			if s.HandedOff {
				return json.Marshal(s.ReloadBroker()) // the broker sends this worker the config it loads
			}
			return json.Marshal(s.reloadFile())
		}
		return nil, fmt.Errorf("unknown admin request %q", command)
	}
}

// ReloadResult is gop11 reload's answer: the error, if the config did not
// load (the running one is kept).
type ReloadResult struct {
	Error string `json:"error,omitempty"`
}

// reloadFile is SIGHUP's work: the config file read again and applied.
func (s *Server) reloadFile() ReloadResult {
	cfg, err := config.Load(s.Config.Path)
	if err == nil {
		err = s.Reload(cfg)
	}
	if err != nil {
		s.Log.Error().Err(err).Msg("reload (gop11 reload) failed, keeping the running config")
		return ReloadResult{Error: err.Error()}
	}
	s.Log.Info().Msg("reloaded (gop11 reload)")
	return ReloadResult{}
}

// Status is what gop11 status shows.
type Status struct {
	Version     string         `json:"version"`
	UptimeS     float64        `json:"uptime_s"`
	Listen      []string       `json:"listen"`
	Connections int            `json:"connections"`
	Clients     []ClientStatus `json:"clients"`
	Modules     []ModuleStatus `json:"modules"`
	Groups      []GroupStatus  `json:"groups,omitempty"`
}

// ClientStatus is one connection: who it is and for how long.
type ClientStatus struct {
	Conn      uint64  `json:"conn"`
	Identity  string  `json:"identity"`
	Connected float64 `json:"connected_s"`
}

// ModuleStatus is one [[module]].
type ModuleStatus struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	Isolation string `json:"isolation"`
	Workers   []int  `json:"workers"` // pids of its live worker processes
	Restarts  int    `json:"restarts"`
}

// GroupStatus is one [[group]] and its members.
type GroupStatus struct {
	Name    string             `json:"name"`
	Slot    uint64             `json:"slot"`
	Members []MemberStatus     `json:"members"`
	Partial []ha.PartialObject `json:"objects_on_some_members,omitempty"`
}

// MemberStatus is one group member.
type MemberStatus struct {
	Name  string `json:"name"`
	Up    bool   `json:"up"`
	Busy  int64  `json:"busy"`
	Calls uint64 `json:"calls"`
}

func (s *Server) status() Status {
	st := Status{Version: s.Version, UptimeS: time.Since(s.started).Seconds(), Listen: s.Listen}
	s.routers.Range(func(k, _ any) bool {
		r := k.(*router)
		st.Connections++
		st.Clients = append(st.Clients, ClientStatus{Conn: r.conn, Identity: r.who, Connected: time.Since(r.since).Seconds()})
		return true
	})
	sort.Slice(st.Clients, func(i, j int) bool { return st.Clients[i].Conn < st.Clients[j].Conn })
	snap := s.snap.Load()
	if snap == nil {
		return st
	}
	pids := map[string][]int{}
	s.routers.Range(func(k, _ any) bool {
		r := k.(*router)
		r.mu.Lock()
		for _, m := range r.members {
			if m.cmd != nil && !m.isDead() {
				pids[m.mod.cfg.Name] = append(pids[m.mod.cfg.Name], m.pid)
			}
		}
		r.mu.Unlock()
		return true
	})
	for _, mod := range snap.modules {
		ms := ModuleStatus{Name: mod.cfg.Name, Path: mod.cfg.Path, Isolation: mod.cfg.Isolation, Workers: pids[mod.cfg.Name], Restarts: mod.restarts()}
		if s.HandedOff { // this process is the module's shared worker
			ms.Isolation, ms.Workers, ms.Restarts = config.IsolationShared+" (handoff)", []int{os.Getpid()}, s.Restarts
		}
		if mod.sw != nil {
			if pid := mod.sw.pid(); pid > 0 {
				ms.Workers = append(ms.Workers, pid)
			}
		}
		sort.Ints(ms.Workers)
		st.Modules = append(st.Modules, ms)
	}
	sort.Slice(st.Modules, func(i, j int) bool { return st.Modules[i].Name < st.Modules[j].Name })
	for _, g := range snap.groups {
		gs := GroupStatus{Name: g.cfg.Name, Slot: g.cfg.Slot, Partial: g.g.Partial()}
		for _, m := range g.g.Stats() {
			gs.Members = append(gs.Members, MemberStatus{Name: m.Name, Up: m.Up, Busy: m.Busy, Calls: m.Calls})
		}
		st.Groups = append(st.Groups, gs)
	}
	sort.Slice(st.Groups, func(i, j int) bool { return st.Groups[i].Slot < st.Groups[j].Slot })
	return st
}

// SlotInfo is one virtual slot, as gop11 slots shows it.
type SlotInfo struct {
	Slot     uint64 `json:"slot"`
	Label    string `json:"label"`
	Serial   string `json:"serial"`
	Module   string `json:"module,omitempty"` // a [[token]]'s
	Group    string `json:"group,omitempty"`  // or a [[group]]'s
	Sessions uint64 `json:"sessions"`         // the module's count, every client together
	Error    string `json:"error,omitempty"`
}

func (s *Server) slotsInfo(ctx context.Context) []SlotInfo {
	snap := s.snap.Load()
	if snap == nil {
		return nil
	}
	var out []SlotInfo
	for v, r := range snap.slots {
		si := SlotInfo{Slot: v, Module: r.mod.cfg.Name}
		m, err := s.startMember(r.mod, 0, 0, "broker", s.Log.With().Str("admin", "slots").Logger())
		if err == nil {
			var resp wire.Message
			resp, err = m.invoke(ctx, wire.Lookup(wire.CallGetTokenInfo), &wire.GetTokenInfoRequest{SlotID: r.real})
			m.stop()
			if err == nil {
				ti := resp.(*wire.GetTokenInfoResponse).Info
				si.Label, si.Serial, si.Sessions = strings.TrimRight(ti.Label, " "), strings.TrimRight(ti.SerialNumber, " "), ti.SessionCount
			}
		}
		if err != nil {
			si.Error = err.Error()
		}
		out = append(out, si)
	}
	for _, g := range snap.groups {
		out = append(out, SlotInfo{Slot: g.cfg.Slot, Group: g.cfg.Name, Serial: g.cfg.Name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out
}
