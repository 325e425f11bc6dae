// Command gop11-broker serves PKCS #11 vendor modules to gop11 clients.
//
//	gop11-broker --listen unix:///run/gop11/gop11.sock --module /usr/lib/softhsm/libsofthsm2.so
//
// Quick mode: one module, every slot of it, the application's PIN passed
// through. Each client connection gets a worker process (this binary,
// started again as `gop11-broker worker`) that loads the module for that
// client alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Version is the broker's build, set by the Makefile.
var Version = "dev"

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// logFlags are shared by the broker and its workers.
type logFlags struct{ level, format string }

func (f *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.level, "log-level", "info", "debug, info, warn or error (debug logs every call)")
	fs.StringVar(&f.format, "log-format", "json", "json or console")
}

func (f *logFlags) logger(w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(f.level)
	if err != nil || f.level == "" {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level)
	}
	switch f.format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want json or console", f.format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func (f *logFlags) args() []string { return []string{"--log-level", f.level, "--log-format", f.format} }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		os.Exit(workerMain(os.Args[2:]))
	}
	os.Exit(brokerMain(os.Args[1:]))
}

func brokerMain(args []string) int {
	fs := flag.NewFlagSet("gop11-broker", flag.ContinueOnError)
	var listen listFlag
	var lf logFlags
	fs.Var(&listen, "listen", "endpoint to serve, unix:///path, or tcp://host:port with --insecure-tcp; tls:// needs a config file (repeatable)")
	module := fs.String("module", "", "vendor PKCS #11 module to serve, every slot (quick mode, no config file)")
	cfgPath := fs.String("config", "/etc/gop11/broker.toml", "config file; with --module only [tls], insecure_tcp and [[client]] policies (and listen, log_*)")
	check := fs.String("check-config", "", "check this config file, print what is wrong, exit (0 good, 2 bad)")
	mode := fs.String("socket-mode", "0600", "permissions of unix socket files")
	grace := fs.Duration("grace", 10*time.Second, "how long SIGTERM waits for clients' calls to finish")
	maxClients := fs.Int("max-clients", 4096, "connections served at once (each has a worker process); more are refused")
	maxLanes := fs.Int("max-lanes", 64, "lanes one client connection may open (each holds a thread where it is served); 0: no limit")
	maxLanesTotal := fs.Int("max-lanes-total", 2048, "lanes the broker, or quick mode's shared worker, serves at once; 0: no limit")
	maxHandshakes := fs.Int("max-handshakes", 4096, "connections whose handshake is under way, in all; more are closed at once; 0: no limit")
	maxHandshakesPeer := fs.Int("max-handshakes-per-peer", 256, "connections whose handshake is under way, per peer (uid, or TCP address); 0: no limit")
	maxPINFailures := fs.Int("max-pin-failures", config.DefaultMaxPINFailures, "quick mode, --isolation shared: wrong PINs in a row before an identity's C_Login answers CKR_PIN_LOCKED; 0: never")
	maxRealSessions := fs.Int("max-real-sessions", 0, "quick mode, --isolation shared: the most sessions the broker keeps open on the module, whatever its clients open; 0: no limit")
	callTimeout := fs.Duration("call-timeout", config.DefaultCallTimeout, "quick mode: a call running longer (but C_WaitForSlotEvent), or a worker stopped longer, ends that worker and its client's calls fail; 0: none (config mode: call_timeout per [[module]])")
	runAs := fs.String("user", "", "once its listeners are bound, the broker (started as root) becomes this user, and so do its workers; key and PIN files must be that user's")
	workerUser := fs.String("worker-user", "", "run workers as this user (the broker must be root): vendor modules then have its rights; its token stores must be its own")
	noLanes := fs.Bool("no-lanes", false, "carry every call on the yamux connection, offering clients no lanes (slower; for comparisons)")
	spin := fs.Duration("lane-spin", wire.DefaultLaneSpin, "how long a lane polls for the client's next request before it sleeps (0: never; see wire/PROTOCOL.md)")
	follow := fs.Bool("lane-follow", true, "a serving lane runs on its client's CPU while lanes spin (false: where the kernel puts it; see wire/PROTOCOL.md)")
	isolation := fs.String("isolation", config.IsolationProcess, `quick mode: "process", a worker per connection, or "shared", one worker for every connection, each a virtual application`)
	insecureTCP := fs.Bool("insecure-tcp", false, "allow plaintext tcp:// listeners on loopback addresses (quick mode; config: insecure_tcp)")
	version := fs.Bool("version", false, "print the version and exit")
	lf.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gop11-broker --listen unix:///PATH.sock --module /path/to/vendor.so [flags]\n"+
			"       gop11-broker [--config /etc/gop11/broker.toml] [flags]\n"+
			"       gop11-broker --check-config FILE\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Println("gop11-broker", Version)
		return 0
	}
	var runCred *syscall.Credential
	if *runAs != "" && *workerUser != "" {
		fmt.Fprintln(os.Stderr, "gop11-broker: --worker-user is for a broker that stays root; with --user its workers run as that user")
		return 2
	}
	if *runAs != "" {
		var err error
		if runCred, err = credentialOf(*runAs); err != nil {
			fmt.Fprintln(os.Stderr, "gop11-broker: --user:", err)
			return 2
		}
		config.BrokerUID = int(runCred.Uid) // key and PIN files are checked against it
	}
	if *check != "" {
		cfg, err := config.ParseOptions{Quick: *module != ""}.Load(*check)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Printf("%s: OK: %d listeners, %d modules, %d tokens, %d clients\n", *check, len(cfg.Listen), len(cfg.Modules), len(cfg.Tokens), len(cfg.Clients))
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gop11-broker: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Quick mode takes a config file only when one is named: its [tls]
	// and [[client]] policies, no modules or tokens.
	var cfg *config.Config
	if *module == "" || set["config"] {
		var err error
		if cfg, err = (config.ParseOptions{Quick: *module != ""}).Load(*cfgPath); err != nil {
			fmt.Fprintln(os.Stderr, "gop11-broker:", err)
			if !set["config"] {
				fmt.Fprintln(os.Stderr, "gop11-broker: give --config FILE, or --listen and --module for quick mode")
			}
			return 2
		}
		if !set["log-level"] {
			lf.level = cfg.LogLevel
		}
		if !set["log-format"] {
			lf.format = cfg.LogFormat
		}
		if len(listen) == 0 {
			listen = cfg.Listen
		}
		if !set["socket-mode"] {
			*mode = fmt.Sprintf("%o", cfg.SocketMode)
		}
	}
	log, err := lf.logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gop11-broker:", err)
		return 2
	}
	if len(listen) == 0 {
		fmt.Fprintln(os.Stderr, "gop11-broker: --listen is required with --module")
		fs.Usage()
		return 2
	}
	if *module != "" {
		if st, err := os.Stat(*module); err != nil || st.IsDir() {
			fmt.Fprintf(os.Stderr, "gop11-broker: --module %s: not a readable file\n", *module)
			return 2
		}
	}
	switch {
	case *isolation != config.IsolationProcess && *isolation != config.IsolationShared:
		fmt.Fprintf(os.Stderr, "gop11-broker: --isolation %q: want %q or %q\n", *isolation, config.IsolationProcess, config.IsolationShared)
		return 2
	case (set["max-pin-failures"] || set["max-real-sessions"]) && *isolation != config.IsolationShared:
		fmt.Fprintln(os.Stderr, "gop11-broker: --max-pin-failures and --max-real-sessions are for --isolation shared (a config file sets them per [[module]])")
		return 2
	case set["isolation"] && *module == "":
		fmt.Fprintln(os.Stderr, "gop11-broker: --isolation is for quick mode (--module); a config file sets isolation per [[module]]")
		return 2
	}
	var as *syscall.Credential
	if *workerUser != "" {
		var err error
		if as, err = credentialOf(*workerUser); err != nil {
			fmt.Fprintln(os.Stderr, "gop11-broker: --worker-user:", err)
			return 2
		}
	}
	var perm uint32
	if _, err := fmt.Sscanf(*mode, "%o", &perm); err != nil || perm > 0o777 {
		fmt.Fprintf(os.Stderr, "gop11-broker: --socket-mode %q: want an octal mode such as 0660\n", *mode)
		return 2
	}
	if *spin < 0 {
		fmt.Fprintf(os.Stderr, "gop11-broker: --lane-spin %v: must not be negative\n", *spin)
		return 2
	}
	wire.SetLaneSpin(*spin)
	wire.SetLaneFollow(*follow)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &broker.Server{Listen: listen, Module: *module, SocketMode: os.FileMode(perm), Log: log,
		WorkerArgs: append(lf.args(), "--grace", grace.String(), "--lane-spin", spin.String(), "--lane-follow="+strconv.FormatBool(*follow)), Version: Version, OpenInProcess: openInProcess,
		MaxClients: *maxClients, NoLanes: *noLanes, InsecureTCP: *insecureTCP, Shared: *isolation == config.IsolationShared,
		MaxLanes: *maxLanes, MaxLanesTotal: *maxLanesTotal, MaxHandshakes: *maxHandshakes, MaxHandshakesPerPeer: *maxHandshakesPeer, WorkerUser: as, RunAs: runCred, CallTimeout: *callTimeout,
		MaxPINFailures: *maxPINFailures, MaxRealSessions: *maxRealSessions}
	if *module == "" {
		srv.Config = cfg
	} else {
		srv.QuickConfig = cfg
	}
	if cfg != nil {
		go reloadOnHUP(srv, cfg.Path, *module != "", log)
	}
	if err := srv.Run(ctx, *grace); err != nil {
		log.Error().Err(err).Msg("broker failed")
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}

// reloadOnHUP re-reads the config on SIGHUP; an invalid one is logged and
// the running one kept.
func reloadOnHUP(srv *broker.Server, path string, quick bool, log zerolog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	for range hup {
		cfg, err := config.ParseOptions{Quick: quick}.Load(path)
		if err != nil {
			log.Error().Err(err).Msg("reload: invalid config, keeping the running one")
			continue
		}
		reload := srv.Reload
		if quick {
			reload = srv.ReloadQuick
		}
		if err := reload(cfg); err != nil {
			log.Error().Err(err).Msg("reload failed, keeping the running config")
		}
	}
}

// credentialOf is the uid, gid and groups of user name, for workers to run
// as; only root may start processes as another user.
func credentialOf(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%s: the broker is not root, so its workers cannot run as another user", name)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	for _, g := range ids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			c.Groups = append(c.Groups, uint32(n))
		}
	}
	return c, nil
}
