package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/audit"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/broker/shared"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Config mode: several modules, tokens chosen by PKCS #11 URI and shown
// under stable virtual slot IDs. The broker serves each connection itself
// (a router) and reaches each module through a member: a worker process of
// that connection's own (isolation "process", one extra local round trip)
// or the broker's shared in-process instance.

type route struct {
	virt uint64
	mod  *module
	real uint64
	uri  string
}

// snapshot is one generation of the configuration, swapped whole on reload.
type snapshot struct {
	cfg     *config.Config
	modules map[int]*module // by permanent index
	slots   map[uint64]*route
	groups  map[int]*groupRoute // by permanent index, as modules
	pins    map[uint64]*heldPin // by virtual slot
}

func (s *snapshot) virtualSlots() []uint64 {
	out := make([]uint64, 0, len(s.slots)+len(s.groups))
	for v := range s.slots {
		out = append(out, v)
	}
	for _, g := range s.groups {
		out = append(out, g.cfg.Slot)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (s *snapshot) virtualOf(mod int, real uint64) uint64 {
	for v, r := range s.slots {
		if r.mod.idx == mod && r.real == real {
			return v
		}
	}
	return real
}

func (s *snapshot) slotsOf(mod int) []uint64 {
	var out []uint64
	for v, r := range s.slots {
		if r.mod.idx == mod {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// build makes the snapshot for cfg: modules (an unchanged module keeps its
// state and index, so handles stay valid across a reload), then each
// module probed once for its slots, and the configured tokens matched.
func (s *Server) build(cfg *config.Config) (*snapshot, error) {
	prev := s.snap.Load()
	next := &snapshot{cfg: cfg, modules: map[int]*module{}, slots: map[uint64]*route{}, groups: map[int]*groupRoute{}, pins: map[uint64]*heldPin{}}
	if cfg.Handoff() != nil {
		return next, nil // the hand-off worker loads the module and serves every connection
	}
	holdPin := func(slot uint64, src *config.PinSource) {
		if src == nil {
			return
		}
		next.pins[slot] = &heldPin{src: *src}
		if prev != nil && prev.pins[slot] != nil && prev.pins[slot].src == *src {
			next.pins[slot] = prev.pins[slot]
		}
	}
	for _, tc := range cfg.Tokens {
		if !tc.NoSlot {
			holdPin(tc.Slot, tc.Pin)
		}
	}
	for _, gc := range cfg.Groups {
		holdPin(gc.Slot, gc.Pin)
	}
	byName := map[string]*module{}
	for i := range cfg.Modules {
		mc := cfg.Modules[i]
		var mod *module
		if prev != nil {
			for _, pm := range prev.modules {
				if sameModule(pm.cfg, mc) {
					mod = pm
				}
			}
		}
		if mod == nil {
			mod = &module{idx: s.nextModule, cfg: mc}
			s.nextModule++
			log := s.Log.With().Str("module", mc.Name).Logger()
			switch mc.Isolation {
			case config.IsolationInProcess:
				if s.OpenInProcess == nil {
					return nil, fmt.Errorf("module %s: in-process isolation is not available in this build", mc.Name)
				}
				be, closer, err := s.OpenInProcess(&mod.cfg, log)
				if err != nil {
					return nil, fmt.Errorf("module %s: %w", mc.Name, err)
				}
				mod.inst = shared.New(shared.Config{Next: be, Log: log, MaxPINFailures: mc.MaxPINFailures,
					MaxRealSessions: mc.MaxRealSessions, Wait: mc.CallTimeout})
				mod.close = closer
			case config.IsolationShared:
				mod.sw = &sharedWorker{srv: s, mod: mod, log: s.Log} // spawnMember names the module
				mod.inst = shared.New(shared.Config{Next: wire.BackendFunc(mod.sw.call), Log: log, MaxPINFailures: mc.MaxPINFailures,
					MaxRealSessions: mc.MaxRealSessions, Wait: mc.CallTimeout})
				mod.close = mod.sw.stop
			}
		}
		next.modules[mod.idx] = mod
		byName[mc.Name] = mod
	}
	probes := map[string][]probedSlot{}
	for name, mod := range byName {
		ps, err := s.probe(mod)
		if err != nil {
			s.Log.Error().Err(err).Str("module", name).Msg("module probe failed: its tokens are not served")
			continue
		}
		probes[name] = ps
	}
	named := map[string]*route{}
	for _, tc := range cfg.Tokens {
		mod := byName[tc.Module]
		var found []probedSlot
		for _, ps := range probes[tc.Module] {
			if ps.matches(tc) {
				found = append(found, ps)
			}
		}
		switch {
		case len(found) == 0:
			s.Log.Warn().Str("token", tc.URI.String()).Str("module", tc.Module).Uint64("slot", tc.Slot).Str("name", tc.Name).Msg("no token matches: not served")
			continue
		case len(found) > 1:
			s.Log.Warn().Str("token", tc.URI.String()).Int("matches", len(found)).Msg("several tokens match: serving the first")
		}
		rt := &route{virt: tc.Slot, mod: mod, real: found[0].id, uri: tc.URI.String()}
		if tc.Name != "" {
			named[tc.Name] = rt
		}
		if tc.NoSlot {
			continue
		}
		next.slots[tc.Slot] = rt
		s.Log.Info().Str("token", strings.TrimSpace(found[0].token.Label)).Str("module", tc.Module).
			Uint64("slot", tc.Slot).Uint64("real_slot", found[0].id).Msg("token served")
	}
	s.buildGroups(cfg, prev, next, named)
	return next, nil
}

// sameModule: a module whose settings did not change keeps its state
// across a reload, wherever it now stands in the file.
func sameModule(a, b config.Module) bool {
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

type probedSlot struct {
	id    uint64
	lib   wire.Info
	slot  wire.SlotInfo
	token wire.TokenInfo
}

func (p probedSlot) matches(tc config.Token) bool {
	return tc.URI.MatchSlotInfo(p.id, p.lib, p.slot, p.token)
}

// probe lists a module's tokens through a short-lived member.
func (s *Server) probe(mod *module) ([]probedSlot, error) {
	m, err := s.startMember(mod, 0, 0, "broker", s.Log.With().Str("probe", mod.cfg.Name).Logger())
	if err != nil {
		return nil, err
	}
	defer m.stop()
	ctx := context.Background()
	info, err := m.backend.GetInfo(ctx, &wire.GetInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("C_GetInfo: %w", err)
	}
	list, err := m.backend.GetSlotList(ctx, &wire.GetSlotListRequest{TokenPresent: true})
	if err != nil {
		return nil, fmt.Errorf("C_GetSlotList: %w", err)
	}
	var out []probedSlot
	for _, id := range list.SlotList {
		si, err := m.backend.GetSlotInfo(ctx, &wire.GetSlotInfoRequest{SlotID: id})
		if err != nil {
			continue
		}
		ti, err := m.backend.GetTokenInfo(ctx, &wire.GetTokenInfoRequest{SlotID: id})
		if err != nil {
			continue
		}
		out = append(out, probedSlot{id: id, lib: info.Info, slot: si.Info, token: ti.Info})
	}
	return out, nil
}

// Reload swaps in a new configuration. Connections stay; their routers
// see the new token table and report the slots that changed as slot
// events. Listener changes need a restart and are only logged.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if prev := s.snap.Load(); prev != nil && (prev.cfg.Handoff() == nil) != (cfg.Handoff() == nil) {
		return errors.New("handoff was turned on or off: that takes a restart of the broker")
	}
	var tc *tls.Config
	if cfg.TLS != nil {
		var err error
		if tc, err = ServerTLS(cfg.TLS); err != nil {
			return err
		}
	}
	next, err := s.build(cfg)
	if err != nil {
		return err
	}
	if tc != nil {
		s.tlsConfig.Store(tc)
	}
	if !reflect.DeepEqual(cfg.Listen, s.Listen) {
		s.Log.Warn().Strs("listen", cfg.Listen).Msg("listen addresses changed: they take effect at the next restart")
	}
	if s.Audit != nil {
		if err := s.Audit.Reopen(); err != nil {
			s.Log.Error().Err(err).Msg("reload: the audit log could not be reopened; it goes on in the old file")
		}
	}
	wire.SetVendorMechanisms(next.cfg.Mechanisms) // for modules in this process; workers get --mechanism
	prev := s.snap.Swap(next)
	closeGroups(prev, next)
	s.acl.Store(&acl.Set{Policies: cfg.Clients})
	s.logAccess(cfg)
	s.routers.Range(func(k, _ any) bool {
		k.(*router).reloaded(next)
		return true
	})
	s.shared.reload(cfg, s.Log)
	if m := cfg.Handoff(); m != nil {
		s.Log.Info().Str("module", m.Name).Msg("configuration loaded: every connection is handed to the module's worker (handoff)")
		return nil
	}
	s.Log.Info().Int("modules", len(next.modules)).Int("slots", len(next.slots)).Msg("configuration loaded")
	return nil
}

// serveRouted serves one connection in config mode.
func (s *Server) serveRouted(id uint64, conn net.Conn, ident acl.Identity, log zerolog.Logger) {
	lanes := make(chan int, 16)
	tlsLanes := make(chan *wire.TLSLane, 16)
	key, forget := s.offerLanes(conn, ident, laneHandlers{
		attach: func(f *os.File) error {
			fd, err := syscall.Dup(int(f.Fd()))
			if err != nil {
				return err
			}
			select {
			case lanes <- fd:
				return nil
			case <-time.After(5 * time.Second):
				syscall.Close(fd)
				return fmt.Errorf("connection not taking lanes")
			}
		},
		attachTLS: func(l *wire.TLSLane) error {
			select {
			case tlsLanes <- l:
				return nil
			case <-time.After(5 * time.Second):
				return fmt.Errorf("connection not taking lanes")
			}
		},
	})
	defer func() {
		forget()
		for {
			select {
			case fd := <-lanes: // came after the connection ended
				syscall.Close(fd)
				continue
			case c := <-tlsLanes:
				c.Close()
				continue
			default:
			}
			return
		}
	}()
	s.serveWelcomed(id, conn, ident, key, lanes, tlsLanes, 0, nil, log)
}

// serveWelcomed welcomes a config-mode connection whose lanes come on
// lanes and tlsLanes (their key: key) and serves it until it ends. hang,
// if set, is what a call running over timeout does (the hand-off
// worker's: exit).
func (s *Server) serveWelcomed(id uint64, conn net.Conn, ident acl.Identity, key []byte, lanes <-chan int, tlsLanes <-chan *wire.TLSLane,
	timeout time.Duration, hang func(string), log zerolog.Logger) {
	if err := wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Broker: s.Version, Lane: key}); err != nil {
		conn.Close()
		return
	}
	r := newRouter(s, id, ident.Key(), log)
	s.routers.Store(r, true)
	defer s.routers.Delete(r)
	log.Info().Msg("client connected")
	start := time.Now()
	var audited *audit.Conn
	guard := acl.NewGuard(acl.GuardConfig{Identity: ident, Policies: s.acl.Load,
		Next: wire.BackendFunc(r.call), Pins: s.heldPin, Log: log, Changes: &s.objectChanges,
		Denied: func(client string, id wire.CallID) {
			s.Metrics.Denied(client, id)
			audited.Denied(client, id)
		}})
	client := ""
	if p := guard.Policy(); p != nil {
		client = p.Name
	}
	audited = s.Audit.Conn(ident.String(), client, conn.LocalAddr().String())
	defer func() { audited.Close(time.Since(start)) }()
	s.Metrics.Connected()
	defer s.Metrics.Disconnected()
	ServeConn(context.Background(), conn, ServeConfig{Backend: s.Metrics.Wrap(audited.Wrap(guard.Call)), Admin: s.admin(ident, guard.Policy), Log: log, Stop: s.ctx.Done(), Grace: s.grace,
		Lanes: lanes, TLSLanes: tlsLanes, Version: s.Version, MaxLanes: s.MaxLanes, MaxLanesTotal: s.MaxLanesTotal,
		CallTimeout: timeout, OnHang: hang})
	r.close()
	log.Info().Dur("connected_for", time.Since(start)).Msg("client gone: its workers finalize their modules")
}

// heldPin is a token's broker-held PIN, read when first needed and kept;
// a failed read is tried again at the next need.
type heldPin struct {
	src config.PinSource
	mu  sync.Mutex
	pin wire.PIN
}

// heldPin returns the PIN of a virtual slot's token.
func (s *Server) heldPin(slot uint64) (wire.PIN, error) {
	hp := s.snap.Load().pins[slot]
	if hp == nil {
		return nil, fmt.Errorf("slot %d: its [[token]] has no pin", slot)
	}
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if hp.pin == nil {
		pin, err := hp.src.Read()
		if err != nil {
			return nil, err
		}
		hp.pin = pin
	}
	return append(wire.PIN(nil), hp.pin...), nil // a copy: the call's is scrubbed after it
}
