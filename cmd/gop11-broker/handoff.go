package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker"
	"github.com/gop11/gop11/broker/config"
	"github.com/rs/zerolog"
)

// serveHandoff is config mode's hand-off worker (handoff = true): a
// config-mode server of its own, its module in this process, serving
// every connection the broker hands over (fd 4 brings them and their
// lanes) whole, policy and audit included (broker/handoff.go).
func serveHandoff(grace time.Duration, maxLanes, maxLanesTotal, restarts int, log zerolog.Logger) int {
	ctrl, err := broker.ReadSharedCtrl(os.NewFile(4, "broker"))
	if err != nil {
		log.Error().Err(err).Msg("hand-off worker started without its control socket")
		return 2
	}
	// The broker sends the config first, then again at each reload.
	var first broker.CtrlMsg
	select {
	case first = <-ctrl.Msgs:
	case <-time.After(time.Minute):
	}
	if first.ConfigPath == "" {
		log.Error().Msg("the broker sent no config")
		return 2
	}
	cfg, err := handoffConfig(first)
	if err != nil {
		log.Error().Err(err).Msg("cannot read the config")
		refuseHanded(ctrl, "broker config: "+err.Error())
		return 1
	}
	log = log.With().Str("module", cfg.Modules[0].Name).Logger()
	srv := &broker.Server{Config: cfg, Listen: cfg.Listen, Log: log, Version: Version, OpenInProcess: openInProcess, MaxLanes: maxLanes, MaxLanesTotal: maxLanesTotal,
		HandedOff: true, Restarts: restarts, ReloadBroker: ctrl.ReloadBroker}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := srv.StartHandoff(ctx, grace); err != nil {
		log.Error().Err(err).Msg("cannot serve the config")
		refuseHanded(ctrl, err.Error())
		return 1
	}
	h := newHanded(ctrl, srv.TLSConfig, log)
	hang := hung(cfg.Modules[0].CallTimeout, log)
	serve := func(nc net.Conn, c *handedConn) { srv.ServeHanded(c.SharedConn, nc, c.lanes, c.tlsLanes, hang) }
	h.run(ctx, "hand-off worker", serve, func(m broker.CtrlMsg) bool {
		switch {
		case m.Metrics:
			go writeMetrics(srv, m.FD, log)
		case m.ConfigPath != "":
			reload(srv, m, log)
		default:
			return false
		}
		return true
	})
	srv.StopHandoff()
	return 0
}

// handoffConfig parses the config the broker sent in m.
func handoffConfig(m broker.CtrlMsg) (*config.Config, error) {
	f := os.NewFile(uintptr(m.FD), "config")
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(data, m.ConfigPath)
	if err != nil {
		return nil, err
	}
	return broker.HandoffConfig(cfg)
}

// reload takes the config the broker read at its reload (its [tls] too,
// for TLS lanes: Server.TLSConfig). The broker checked it, and refuses
// one that turns handoff off.
func reload(srv *broker.Server, m broker.CtrlMsg, log zerolog.Logger) {
	cfg, err := handoffConfig(m)
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		log.Error().Err(err).Msg("reload failed, keeping the running config")
	}
}

// writeMetrics answers the broker's scrape on the socket fd.
func writeMetrics(srv *broker.Server, fd int, log zerolog.Logger) {
	f := os.NewFile(uintptr(fd), "metrics")
	defer f.Close()
	if err := srv.WriteMetrics(f); err != nil {
		log.Warn().Err(err).Msg("metrics not sent to the broker")
	}
}
