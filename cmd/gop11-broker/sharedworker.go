package main

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/signal"
	"sync"
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
			return 1
		}
	}
	mod, err := backend.Open(module, backend.Options{Log: log, Serialize: serialize, InitArgs: takeInitArgs()})
	if err != nil {
		log.Error().Err(err).Str("module", module).Msg("cannot load the module")
		return 1
	}
	limits.Next, limits.Log = mod, log
	inst := shared.New(limits)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	type conn struct {
		lanes    chan int
		tlsLanes chan *wire.TLSLane
		ident    acl.Identity
		key      []byte
	}
	var mu sync.Mutex
	conns := map[uint64]*conn{}
	var wg sync.WaitGroup
	serve := func(m broker.CtrlMsg) {
		defer wg.Done()
		c := &conn{lanes: make(chan int, 16), tlsLanes: make(chan *wire.TLSLane, 16), ident: m.Conn.Identity, key: m.Conn.LaneKey}
		defer ctrl.Ended(m.ID)
		nc, err := net.FileConn(os.NewFile(uintptr(m.FD), "client"))
		if err != nil {
			log.Warn().Err(err).Msg("a connection the broker handed over is no socket")
			return
		}
		mu.Lock()
		conns[m.ID] = c
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, m.ID)
			mu.Unlock()
		}()
		clog := log.With().Uint64("conn", m.ID).Str("program", m.Conn.Program).Uint64("pid", m.Conn.PID).Str("identity", c.ident.String()).Logger()
		if err := wire.WriteMsg(nc, &wire.Welcome{Version: wire.ProtocolVersion, Broker: Version, Lane: c.key}); err != nil {
			nc.Close()
			return
		}
		app := inst.App(c.ident.Key(), clog)
		err = broker.ServeConn(context.Background(), nc, broker.ServeConfig{Backend: guard(wire.BackendFunc(app.Call), policies, c.ident, clog),
			Log: clog, Stop: ctx.Done(), Grace: grace, Lanes: c.lanes, TLSLanes: c.tlsLanes, Version: Version,
			MaxLanes: maxLanes, MaxLanesTotal: maxLanesTotal, CallTimeout: callTimeout, OnHang: hung(callTimeout, log)})
		if err != nil {
			clog.Warn().Err(err).Msg("connection ended")
		}
		app.Close(context.Background())
		v, r, apps := inst.Counts()
		clog.Info().Int("virtual_sessions", v).Int("real_sessions", r).Int("connections", apps).Msg("client gone")
	}
	lane := func(m broker.CtrlMsg) {
		mu.Lock()
		c := conns[m.ID]
		mu.Unlock()
		if c == nil {
			syscall.Close(m.FD)
			return
		}
		if !m.TLS {
			c.lanes <- m.FD
			return
		}
		go acceptTLSLane(m.FD, tlsCfg, c.ident, c.key, c.tlsLanes, log)
	}
	for {
		select {
		case m, ok := <-ctrl.Msgs:
			if !ok {
				log.Warn().Msg("broker gone: shared worker exits")
				os.Exit(1)
			}
			if m.Conn != nil {
				wg.Add(1)
				go serve(m)
			} else {
				lane(m)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	wg.Wait() // each connection ends once its calls in flight have (grace)
	if err := mod.Close(); err != nil {
		log.Warn().Err(err).Msg("C_Finalize")
	}
	return 0
}
