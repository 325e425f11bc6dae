package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker"
	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/backend"
	"github.com/gop11/gop11/broker/shared"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// serveShared is the shared worker of quick mode (--isolation shared):
// one instance of the module serves every connection the broker hands
// over (fd 4 brings them, and their lanes), each connection a virtual
// application of its own (broker/shared) behind its access policy.
func serveShared(module, cfgPath string, serialize bool, grace time.Duration, maxLanes, maxLanesTotal int, callTimeout time.Duration,
	limits shared.Config, log zerolog.Logger) int {
	ctrl, err := broker.ReadSharedCtrl(os.NewFile(4, "broker"))
	if err != nil {
		log.Error().Err(err).Msg("shared worker started without its control socket")
		return 2
	}
	policies := func() *acl.Set { return &acl.Set{} }
	var tlsCfg *tls.Config
	if cfgPath != "" {
		if tlsCfg, policies, err = quickConfig(cfgPath, log); err != nil {
			log.Error().Err(err).Msg("cannot read the config")
			refuseHanded(ctrl, "broker config: "+err.Error())
			return 1
		}
	}
	mod, err := backend.Open(module, backend.Options{Log: log, Serialize: serialize, InitArgs: takeInitArgs()})
	if err != nil {
		log.Error().Err(err).Str("module", module).Msg("cannot load the module")
		refuseHanded(ctrl, fmt.Sprintf("module %s: %v", module, err))
		return 1
	}
	limits.Next, limits.Log = mod, log
	inst := shared.New(limits)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	h := newHanded(ctrl, func() *tls.Config { return tlsCfg }, log)
	serve := func(nc net.Conn, c *handedConn) {
		clog := log.With().Uint64("conn", c.ID).Str("program", c.Program).Uint64("pid", c.PID).Str("identity", c.Identity.String()).Logger()
		if err := wire.WriteMsg(nc, &wire.Welcome{Version: wire.ProtocolVersion, Broker: Version, Lane: c.LaneKey}); err != nil {
			nc.Close()
			return
		}
		app := inst.App(c.Identity.Key(), clog)
		err := broker.ServeConn(context.Background(), nc, broker.ServeConfig{Backend: guard(wire.BackendFunc(app.Call), policies, c.Identity, clog),
			Log: clog, Stop: ctx.Done(), Grace: grace, Lanes: c.lanes, TLSLanes: c.tlsLanes, Version: Version,
			MaxLanes: maxLanes, MaxLanesTotal: maxLanesTotal, CallTimeout: callTimeout, OnHang: hung(callTimeout, log)})
		if err != nil {
			clog.Warn().Err(err).Msg("connection ended")
		}
		app.Close(context.Background())
		v, r, apps := inst.Counts()
		clog.Info().Int("virtual_sessions", v).Int("real_sessions", r).Int("connections", apps).Msg("client gone")
	}
	h.run(ctx, "shared worker", serve, nil)
	if err := mod.Close(); err != nil {
		log.Warn().Err(err).Msg("C_Finalize")
	}
	return 0
}
