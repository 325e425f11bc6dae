package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/wire"
)

// Config mode with handoff = true on its one [[module]] (isolation
// "shared"): the broker keeps the listeners, the TLS handshakes, the
// identities and max_clients, and hands each connection and its lanes to
// the module's shared worker, as quick mode's --isolation shared does.
// The worker is a config-mode Server of its own (the functions here)
// that loads the module in its process: it runs the router, the access
// policy with the broker-held PINs, the audit log and the metrics for
// its connections, so a call takes no hop through the broker. The broker
// sends it the config as read at start and at each reload (sendConfig:
// the worker may not be able to read the file), and asks it for its
// metrics at each scrape (Metrics.Also). A worker that crashes takes its
// connections with it; the clients connect again (module/client), and
// the broker starts another worker.

// handoff is the module whose worker serves every connection, if the
// config the broker started with has one.
func (s *Server) handoff() *config.Module {
	if s.Config == nil {
		return nil
	}
	return s.Config.Handoff()
}

// HandoffConfig is the worker's copy of cfg: its module runs in the
// worker's process, with the virtual state isolation "shared" keeps.
func HandoffConfig(cfg *config.Config) (*config.Config, error) {
	m := cfg.Handoff()
	if m == nil {
		return nil, fmt.Errorf("%s: no [[module]] with handoff = true, or not the config's only module", cfg.Path)
	}
	c := *cfg
	c.Modules = []config.Module{*m}
	c.Modules[0].Isolation, c.Modules[0].Handoff = config.IsolationInProcess, false
	return &c, nil
}

// StartHandoff readies the hand-off worker's Server (s.Config from
// HandoffConfig) to serve connections until ctx ends: the module, the
// policies, the audit log and the metrics (the broker serves them), but
// no listener. Close it with StopHandoff.
func (s *Server) StartHandoff(ctx context.Context, grace time.Duration) error {
	s.begin(ctx, grace)
	return s.openConfig()
}

// ServeHanded serves a connection the broker handed over, whose Hello
// it read (sc: what the broker saw), its lanes on lanes and tlsLanes. A
// call that runs over the module's call_timeout calls hang (the worker
// exits: only that frees a stuck module).
func (s *Server) ServeHanded(sc *SharedConn, conn net.Conn, lanes <-chan int, tlsLanes <-chan *wire.TLSLane, hang func(string)) {
	log := s.Log.With().Uint64("conn", sc.ID).Str("program", sc.Program).Uint64("pid", sc.PID).Str("identity", sc.Identity.String()).Logger()
	if p := acl.Match(s.acl.Load().Policies, sc.Identity); p != nil {
		log = log.With().Str("client", p.Name).Logger()
	}
	s.serveWelcomed(sc.ID, conn, sc.Identity, sc.LaneKey, lanes, tlsLanes, s.Config.Modules[0].CallTimeout, hang, log)
}

// WriteMetrics writes the worker's metrics for the broker (metrics.Read);
// nothing when metrics are off.
func (s *Server) WriteMetrics(w io.Writer) error {
	if s.Metrics == nil {
		return nil
	}
	return s.Metrics.Write(w)
}

// StopHandoff finalizes the module and closes the audit log, once every
// connection has ended.
func (s *Server) StopHandoff() {
	s.closeInProcess()
	s.Audit.Close()
}
