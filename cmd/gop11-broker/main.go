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
	"strings"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker"
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
	fs.Var(&listen, "listen", "endpoint to serve, unix:///path or tcp://host:port (repeatable)")
	module := fs.String("module", "", "vendor PKCS #11 module to serve (quick mode)")
	mode := fs.String("socket-mode", "0600", "permissions of unix socket files")
	grace := fs.Duration("grace", 10*time.Second, "how long SIGTERM waits for clients' calls to finish")
	version := fs.Bool("version", false, "print the version and exit")
	lf.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gop11-broker --listen unix:///PATH.sock --module /path/to/vendor.so [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Println("gop11-broker", Version)
		return 0
	}
	log, err := lf.logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gop11-broker:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gop11-broker: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *module == "" || len(listen) == 0 {
		fmt.Fprintln(os.Stderr, "gop11-broker: --listen and --module are required (the config file comes with the broker-service work)")
		fs.Usage()
		return 2
	}
	if st, err := os.Stat(*module); err != nil || st.IsDir() {
		fmt.Fprintf(os.Stderr, "gop11-broker: --module %s: not a readable file\n", *module)
		return 2
	}
	var perm uint32
	if _, err := fmt.Sscanf(*mode, "%o", &perm); err != nil || perm > 0o777 {
		fmt.Fprintf(os.Stderr, "gop11-broker: --socket-mode %q: want an octal mode such as 0660\n", *mode)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &broker.Server{Listen: listen, Module: *module, SocketMode: os.FileMode(perm), Log: log, WorkerArgs: lf.args()}
	if err := srv.Run(ctx, *grace); err != nil {
		log.Error().Err(err).Msg("broker failed")
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}
