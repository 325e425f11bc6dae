// Command gop11 is the admin CLI. `gop11 ping` connects to the broker the
// module would use (same lookup: GOP11_BROKER, GOP11_CONFIG, client.toml,
// default socket) and times a C_GetInfo round trip.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gop11/gop11/module/client"
	"github.com/gop11/gop11/wire"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "ping":
		os.Exit(ping(os.Args[2:]))
	case "status", "slots", "reload":
		os.Exit(admin(os.Args[1], os.Args[2:]))
	case "check-config":
		os.Exit(checkConfig(os.Args[2:]))
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "gop11: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: gop11 ping [--broker unix:///path.sock] [--count N]
       gop11 status [--broker ...] [--json]   the broker's modules, workers, groups, connections
       gop11 slots [--broker ...] [--json]    its virtual slots: token label, serial, module, sessions
       gop11 reload [--broker ...]            read broker.toml again (as SIGHUP does)
       gop11 check-config [FILE]              check a broker.toml (default /etc/gop11/broker.toml)
exit: 0 done, 1 the broker answered with a problem, 2 usage, 3 the broker cannot be reached`)
}

func ping(args []string) int {
	fs := flag.NewFlagSet("gop11 ping", flag.ContinueOnError)
	broker := fs.String("broker", "", "endpoint (default: as the module finds it)")
	count := fs.Int("count", 3, "round trips to time")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := client.LoadConfig(os.Getenv)
	if *broker != "" {
		cfg, err = client.LoadConfig(func(k string) string {
			if k == "GOP11_BROKER" {
				return *broker
			}
			return os.Getenv(k)
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gop11 ping:", err)
		return 1
	}
	// With several brokers, the first that answers, as the module does.
	eps, _ := cfg.Endpoints() // checked by LoadConfig
	var c *wire.Client
	var ep wire.Endpoint
	start := time.Now()
	for _, ep = range eps {
		if c, err = wire.Dial(ep, wire.ClientConfig{DialTimeout: cfg.DialTimeout, Program: "gop11 ping"}); err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "gop11 ping: %s (from %s): %v\n", ep, cfg.Source, err)
	}
	if c == nil {
		return 1
	}
	defer c.Close()
	fmt.Printf("connected to %s (from %s) in %v, broker %s, protocol %d\n",
		ep, cfg.Source, time.Since(start).Round(time.Microsecond), c.Welcome.Broker, c.Welcome.Version)
	for i := 0; i < *count; i++ {
		t := time.Now()
		var resp wire.GetInfoResponse
		if err := c.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &resp); err != nil {
			fmt.Fprintln(os.Stderr, "gop11 ping: C_GetInfo:", err)
			return 1
		}
		if i == 0 {
			in := resp.Info
			fmt.Printf("module: %s (%s) v%d.%d, Cryptoki %d.%d\n", strings.TrimSpace(in.LibraryDescription),
				strings.TrimSpace(in.ManufacturerID), in.LibraryVersion.Major, in.LibraryVersion.Minor,
				in.CryptokiVersion.Major, in.CryptokiVersion.Minor)
		}
		fmt.Printf("C_GetInfo round trip %d: %v\n", i+1, time.Since(t).Round(time.Microsecond))
	}
	return 0
}
