package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gop11/gop11/broker/metrics"
	"github.com/gop11/gop11/wire"
	dto "github.com/prometheus/client_model/go"
)

// serveMetrics serves /metrics and /healthz on addr (metrics_listen)
// until the broker stops.
func (s *Server) serveMetrics(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.Metrics.Handler(s.checkModules), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-s.ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error().Err(err).Msg("metrics server stopped")
		}
	}()
	s.Log.Info().Str("address", l.Addr().String()).Msg("metrics served at /metrics, health at /healthz")
	return nil
}

// checkModules is /healthz: each module answers C_GetInfo through a
// member of the broker's own (a new worker, for process isolation).
func (s *Server) checkModules(ctx context.Context) map[string]string {
	failed := map[string]string{}
	snap := s.snap.Load()
	if snap == nil {
		return map[string]string{"broker": "no config loaded"}
	}
	if m := snap.cfg.Handoff(); m != nil {
		// The worker loaded the module when it started, and its control
		// loop answers; one that is not running is started.
		_, err := s.sharedWorker(s.Log)
		var fams []*dto.MetricFamily
		if err == nil {
			fams, err = s.workerMetrics()
		}
		if err == nil && len(fams) == 0 { // it has metrics (gop11_connections, at least) once it serves
			err = errors.New("the hand-off worker did not answer: it could not load the module or the config (the broker's log says why)")
		}
		if err != nil {
			failed[m.Name] = err.Error()
		}
		return failed
	}
	for _, mod := range snap.modules {
		log := s.Log.With().Str("health", mod.cfg.Name).Logger()
		m, err := s.startMember(mod, 0, 0, "broker", log)
		if err == nil {
			_, err = m.invoke(ctx, wire.Lookup(wire.CallGetInfo), &wire.GetInfoRequest{})
			m.stop()
		}
		if err != nil {
			failed[mod.cfg.Name] = err.Error()
			log.Warn().Err(err).Msg("health check: the module does not answer C_GetInfo")
		}
	}
	return failed
}

// moduleSessions is each shared module instance's session counts.
func (s *Server) moduleSessions() []metrics.ModuleSessions {
	snap := s.snap.Load()
	if snap == nil {
		return nil
	}
	var out []metrics.ModuleSessions
	for _, mod := range snap.modules {
		if mod.inst != nil {
			v, r, _ := mod.inst.Counts()
			out = append(out, metrics.ModuleSessions{Module: mod.cfg.Name, Virtual: v, Real: r})
		}
	}
	return out
}

// groupStates is every HA group member's state, for the metrics.
func (s *Server) groupStates() []metrics.MemberState {
	snap := s.snap.Load()
	if snap == nil {
		return nil
	}
	var out []metrics.MemberState
	for _, g := range snap.groups {
		for _, st := range g.g.Stats() {
			out = append(out, metrics.MemberState{Group: g.cfg.Name, Member: st.Name, Up: st.Up, Calls: st.Calls})
		}
	}
	return out
}
