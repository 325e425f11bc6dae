package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker"
	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/backend"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/broker/shared"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// workerMain runs one client's worker: fd 3 is the client's connection
// (its Hello already read by the broker), fd 4 its control socket (the
// lane key, then lanes; EOF when the broker is gone), fd 5 the broker's log (the worker's
// stderr is read by the broker for crash reports). The worker loads the vendor module,
// answers the client's Welcome, serves it, and on exit finalizes the
// module: whatever the client held is freed with it.
func workerMain(args []string) int {
	fs := flag.NewFlagSet("gop11-broker worker", flag.ContinueOnError)
	var lf logFlags
	module := fs.String("module", "", "vendor module")
	connID := fs.Uint64("conn", 0, "connection number, for logs")
	name := fs.String("name", "", "module name, for logs")
	serialize := fs.Bool("serialize", false, "make calls to the module one at a time")
	grace := fs.Duration("grace", 10*time.Second, "how long SIGTERM waits for calls in flight")
	spin := fs.Duration("lane-spin", wire.DefaultLaneSpin, "how long a lane polls before it sleeps")
	follow := fs.Bool("lane-follow", true, "a serving lane runs on its client's CPU while lanes spin")
	cfgPath := fs.String("config", "", "quick mode's config file: the [[client]] policies to enforce")
	identity := fs.String("identity", "", "the client's identity (JSON), for the policies")
	callTimeout := fs.Duration("call-timeout", 0, "a call running longer ends the worker (its client's calls fail); 0: none")
	maxLanes := fs.Int("max-lanes", 0, "lanes one client connection may open; 0: no limit")
	maxLanesTotal := fs.Int("max-lanes-total", 0, "lanes this worker serves at once; 0: no limit")
	maxPINFailures := fs.Int("max-pin-failures", config.DefaultMaxPINFailures, "shared: wrong PINs in a row before an identity is locked out; 0: never")
	maxRealSessions := fs.Int("max-real-sessions", 0, "shared: the most sessions kept open on the module; 0: no limit")
	var mechs listFlag
	fs.Var(&mechs, "mechanism", "a vendor mechanism whose parameter is carried, TYPE=LAYOUT (broker.toml [[mechanism]]; repeatable)")
	sharedMode := fs.Bool("shared", false, "serve every connection the broker hands over, from one module instance (quick mode --isolation shared)")
	restarts := fs.Int("restarts", 0, "--handoff: how many of the module's workers ran before this one (gop11 status)")
	handoff := fs.Bool("handoff", false, "config mode's hand-off worker: serve every connection the broker hands over, as the config it sends says (handoff = true)")
	lf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	wire.SetLaneSpin(*spin)
	wire.SetLaneFollow(*follow)
	if err := setMechanisms(mechs); err != nil {
		fmt.Fprintln(os.Stderr, "gop11-broker worker: --mechanism:", err)
		return 2
	}
	// Neither the worker nor what the vendor module starts may gain
	// privileges (setuid programs, file capabilities).
	unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	logOut := os.NewFile(5, "log")
	if _, err := logOut.Stat(); err != nil {
		logOut = os.Stderr
	}
	log, err := lf.logger(logOut)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gop11-broker worker:", err)
		return 2
	}
	if !*sharedMode && !*handoff { // a shared worker's connections say theirs
		log = log.With().Uint64("conn", *connID).Logger()
	}
	log = log.With().Int("worker", os.Getpid()).Logger()
	if *name != "" {
		log = log.With().Str("module", *name).Logger()
	}
	// One P per lane plus one (wire/lane.go). Each lane's goroutine waits
	// in poll(2) holding its P; the spare P keeps the runtime's monitor
	// from taking a waiting lane's P after 20 us (it does so only when no
	// P is idle), and starting a thread to run it, on every call. With
	// one P per lane and none spare, a call from a single-threaded client
	// cost 46 us p50 (C_GetInfo) against 6.5 us with the spare, and ECDSA
	// from one client process ran at 5.7k against 8.6k signatures/s;
	// with 64 client processes both gave 6-7k/s. Without lanes, the one
	// spare P serves yamux's goroutines. Vendor calls are cgo calls, which
	// give up the P, so threads signing at once use every CPU.
	// GOMAXPROCS set in the environment wins.
	if os.Getenv("GOMAXPROCS") == "" {
		wire.SetLaneProcsBase(1)
	}
	// Diagnostics: GOP11_WORKER_CPUPROFILE=PREFIX writes each worker's
	// CPU profile to PREFIX.PID when it exits (make bench uses it to say
	// where a call's time goes).
	if prefix := os.Getenv("GOP11_WORKER_CPUPROFILE"); prefix != "" {
		if f, err := os.Create(fmt.Sprintf("%s.%d", prefix, os.Getpid())); err == nil {
			pprof.StartCPUProfile(f)
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	if *handoff {
		return serveHandoff(*grace, *maxLanes, *maxLanesTotal, *restarts, log)
	}
	if *sharedMode {
		return serveShared(*module, *cfgPath, *serialize, *grace, *maxLanes, *maxLanesTotal, *callTimeout,
			shared.Config{MaxPINFailures: *maxPINFailures, MaxRealSessions: *maxRealSessions, Wait: cmp.Or(*callTimeout, config.DefaultCallTimeout)}, log)
	}
	conn, err := net.FileConn(os.NewFile(3, "client"))
	if err != nil {
		log.Error().Err(err).Msg("worker started without a client connection")
		return 2
	}
	laneKey, ctrlLanes, err := broker.ReadCtrl(os.NewFile(4, "broker"))
	if err != nil {
		log.Error().Err(err).Msg("worker started without its control socket")
		return 2
	}
	// Quick mode's config: the policies, and [tls] for the connection's
	// TLS lanes, which come here for their handshake (broker/tlslane.go).
	var ident acl.Identity
	var tlsCfg *tls.Config
	var policies func() *acl.Set
	if *cfgPath != "" {
		if err := json.Unmarshal([]byte(*identity), &ident); err != nil {
			log.Error().Err(err).Msg("--identity: client refused")
			return 2
		}
		if tlsCfg, policies, err = quickConfig(*cfgPath, log); err != nil {
			log.Error().Err(err).Msg("cannot read the config: client refused")
			wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Error: "broker config: " + err.Error()})
			return 1
		}
	}
	lanes := make(chan int, 16)
	tlsLanes := make(chan *wire.TLSLane, 16)
	go func() {
		for l := range ctrlLanes {
			if !l.TLS {
				lanes <- l.FD
				continue
			}
			go acceptTLSLane(l.FD, tlsCfg, ident, laneKey, tlsLanes, log)
		}
		log.Warn().Msg("broker gone: worker exits")
		os.Exit(1)
	}()
	mod, err := backend.Open(*module, backend.Options{Log: log, Serialize: *serialize, InitArgs: takeInitArgs()})
	if err != nil {
		log.Error().Err(err).Str("module", *module).Msg("cannot load the module")
		wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Error: fmt.Sprintf("module %s: %v", *module, err)})
		return 1
	}
	if err := wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Broker: Version, Lane: laneKey}); err != nil {
		log.Warn().Err(err).Msg("client gone before the welcome")
		mod.Close()
		return 1
	}
	// SIGTERM (the broker stopping): answer the calls in flight, then close
	// the client's sessions and finalize the module.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var be wire.Backend = mod
	if policies != nil {
		be = guard(mod, policies, ident, log)
	}
	err = broker.ServeConn(context.Background(), conn, broker.ServeConfig{Backend: be, Log: log, Stop: ctx.Done(), Grace: *grace, Lanes: lanes, TLSLanes: tlsLanes, Version: Version, MaxLanes: *maxLanes, MaxLanesTotal: *maxLanesTotal,
		CallTimeout: *callTimeout, OnHang: hung(*callTimeout, log)})
	if err != nil {
		log.Warn().Err(err).Msg("connection ended")
	}
	if err := mod.Close(); err != nil {
		log.Warn().Err(err).Msg("C_Finalize")
	}
	return 0
}

// hung is what a quick-mode worker does when a call runs over timeout:
// the vendor module is stuck, and only the process ending frees its
// client (whose calls then fail with CKR_DEVICE_ERROR) and what it held.
func hung(timeout time.Duration, log zerolog.Logger) func(string) {
	return func(call string) {
		log.Error().Str("call", call).Dur("call_timeout", timeout).Msg("hung: the call ran over the call timeout; the worker exits")
		os.Exit(3)
	}
}

// quickConfig reads quick mode's config file once: [tls], for the TLS
// lanes the broker hands the worker for their handshake, and the
// [[client]] policies, read again at every SIGHUP (the broker sends it on
// its own reload).
func quickConfig(path string, log zerolog.Logger) (*tls.Config, func() *acl.Set, error) {
	cfg, err := config.ParseOptions{Quick: true}.Load(path)
	if err != nil {
		return nil, nil, err
	}
	var tc *tls.Config
	if cfg.TLS != nil {
		if tc, err = broker.ServerTLS(cfg.TLS); err != nil {
			return nil, nil, err
		}
	}
	wire.SetVendorMechanisms(cfg.Mechanisms)
	var current atomic.Pointer[acl.Set]
	current.Store(&acl.Set{Policies: cfg.Clients})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			cfg, err := config.ParseOptions{Quick: true}.Load(path)
			if err != nil {
				log.Error().Err(err).Msg("reload: invalid config, keeping the running policies")
				continue
			}
			current.Store(&acl.Set{Policies: cfg.Clients})
			wire.SetVendorMechanisms(cfg.Mechanisms)
			log.Info().Int("clients", len(cfg.Clients)).Msg("policies reloaded")
		}
	}()
	return tc, current.Load, nil
}

// acceptTLSLane runs the TLS of a lane whose socket (fd, its preface read)
// the broker handed over, for the connection of ident and its lane key,
// and passes the lane on; a refusal is logged.
func acceptTLSLane(fd int, cfg *tls.Config, ident acl.Identity, key []byte, lanes chan<- *wire.TLSLane, log zerolog.Logger) {
	raw, err := wire.NewLaneConn(fd)
	if err == nil && cfg == nil {
		raw.Close()
		err = errors.New("no [tls] in the config")
	}
	if err != nil {
		log.Warn().Err(err).Msg("TLS lane refused")
		return
	}
	if l, err := broker.AcceptTLSLane(raw, cfg, ident, key, 10*time.Second, log); err == nil {
		lanes <- l
	}
}

// guard is one connection's access control in quick mode.
func guard(next wire.Backend, policies func() *acl.Set, id acl.Identity, log zerolog.Logger) wire.Backend {
	g := acl.NewGuard(acl.GuardConfig{Identity: id, Policies: policies, Next: next, Log: log,
		Pins: func(uint64) (wire.PIN, error) { return nil, errors.New("quick mode holds no PINs") }})
	return wire.BackendFunc(g.Call)
}

// openInProcess loads a module into the broker itself (isolation
// "inprocess"): every client shares its one instance and login state.
func openInProcess(m *config.Module, log zerolog.Logger) (wire.Backend, func() error, error) {
	for k, v := range m.Env {
		os.Setenv(k, v)
	}
	mod, err := backend.Open(m.Path, backend.Options{Log: log, Serialize: m.Serialize, InitArgs: m.InitArgs})
	if err != nil {
		return nil, nil, err
	}
	return mod, mod.Close, nil
}

// takeInitArgs returns the module's init string (init_args), which the
// broker hands its workers in the environment rather than on the command
// line, where ps would show it; it is removed from the environment first,
// so the module and its children never see it there.
func takeInitArgs() string {
	v := os.Getenv(broker.InitArgsEnv)
	os.Unsetenv(broker.InitArgsEnv)
	return v
}

// setMechanisms declares the vendor mechanisms given as --mechanism
// TYPE=LAYOUT.
func setMechanisms(flags []string) error {
	if len(flags) == 0 {
		return nil
	}
	var decls []wire.MechanismDecl
	for _, f := range flags {
		t, layout, ok := strings.Cut(f, "=")
		v, err := strconv.ParseUint(t, 0, 64)
		if !ok || err != nil {
			return fmt.Errorf("%q: want TYPE=LAYOUT", f)
		}
		decls = append(decls, wire.MechanismDecl{Type: &v, Layout: layout})
	}
	m, err := wire.VendorMechanisms(decls)
	if err != nil {
		return err
	}
	wire.SetVendorMechanisms(m)
	return nil
}
