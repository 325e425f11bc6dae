package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gop11/gop11/broker"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/module/client"
	"github.com/gop11/gop11/wire"
)

// admin runs gop11 status or gop11 slots: an admin request on the
// broker's socket (root or the broker's own user only).
func admin(cmd string, args []string) int {
	fs := flag.NewFlagSet("gop11 "+cmd, flag.ContinueOnError)
	brokerFlag := fs.String("broker", "", "endpoint (default: as the module finds it)")
	asJSON := fs.Bool("json", false, "print the broker's answer as JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 2
	}
	cfg, err := client.LoadConfig(func(k string) string {
		if k == "GOP11_BROKER" && *brokerFlag != "" {
			return *brokerFlag
		}
		return os.Getenv(k)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gop11 %s: %v\n", cmd, err)
		return 2
	}
	eps, _ := cfg.Endpoints()
	var c *wire.Client
	for _, ep := range eps {
		if c, err = wire.Dial(ep, wire.ClientConfig{DialTimeout: cfg.DialTimeout, Program: "gop11 " + cmd}); err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "gop11 %s: %s (from %s): %v\n", cmd, ep, cfg.Source, err)
	}
	if c == nil {
		return 3
	}
	defer c.Close()
	var resp wire.AdminResponse
	if err := c.Call(wire.CallAdmin, &wire.AdminRequest{Command: cmd}, &resp); err != nil {
		if errors.Is(err, wire.ErrConnLost) {
			fmt.Fprintf(os.Stderr, "gop11 %s: the broker closed the connection: it serves no admin requests (quick mode)\n", cmd)
		} else {
			fmt.Fprintf(os.Stderr, "gop11 %s: the broker refused: %v (its log says why; admin requests are for root or the broker's user)\n", cmd, err)
		}
		return 1
	}
	if cmd == "reload" {
		var r broker.ReloadResult
		if err := json.Unmarshal(resp.JSON, &r); err != nil || r.Error != "" {
			fmt.Fprintf(os.Stderr, "gop11 reload: the broker keeps its running config: %s\n", cmp.Or(r.Error, fmt.Sprint(err)))
			return 1
		}
		fmt.Println("reloaded")
		return 0
	}
	if *asJSON {
		os.Stdout.Write(append(resp.JSON, '\n'))
		return 0
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	switch cmd {
	case "status":
		var st broker.Status
		if err := json.Unmarshal(resp.JSON, &st); err != nil {
			fmt.Fprintf(os.Stderr, "gop11 status: %v\n", err)
			return 1
		}
		fmt.Fprintf(w, "broker\t%s, up %s, %d connections (this one included)\n", st.Version, (time.Duration(st.UptimeS) * time.Second).String(), st.Connections)
		fmt.Fprintf(w, "listen\t%s\n", strings.Join(st.Listen, " "))
		fmt.Fprintln(w, "\nCONN\tIDENTITY\tCONNECTED")
		for _, c := range st.Clients {
			fmt.Fprintf(w, "%d\t%s\t%s\n", c.Conn, c.Identity, (time.Duration(c.Connected) * time.Second).String())
		}
		fmt.Fprintln(w, "\nMODULE\tISOLATION\tWORKERS\tRESTARTS\tPATH")
		for _, m := range st.Modules {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", m.Name, m.Isolation, pids(m.Workers), m.Restarts, m.Path)
		}
		if len(st.Groups) > 0 {
			fmt.Fprintln(w, "\nGROUP\tSLOT\tMEMBER\tUP\tBUSY\tCALLS")
			for _, g := range st.Groups {
				for _, m := range g.Members {
					fmt.Fprintf(w, "%s\t%d\t%s\t%v\t%d\t%d\n", g.Name, g.Slot, m.Name, m.Up, m.Busy, m.Calls)
				}
			}
			first := true
			for _, g := range st.Groups {
				for _, o := range g.Partial {
					if first {
						fmt.Fprintln(w, "\nGROUP\tOBJECT (used only where it is)\tCLASS\tID\tMISSING ON")
						first = false
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", g.Name, o.Label, o.Class, o.ID, strings.Join(o.MissingOn, ","))
				}
			}
		}
	case "slots":
		var slots []broker.SlotInfo
		if err := json.Unmarshal(resp.JSON, &slots); err != nil {
			fmt.Fprintf(os.Stderr, "gop11 slots: %v\n", err)
			return 1
		}
		fmt.Fprintln(w, "SLOT\tLABEL\tSERIAL\tMODULE\tSESSIONS")
		problem := false
		for _, s := range slots {
			src := s.Module
			if s.Group != "" {
				src = "group " + s.Group
			}
			if s.Error != "" {
				problem = true
				fmt.Fprintf(w, "%d\t-\t-\t%s\t(%s)\n", s.Slot, src, s.Error)
				continue
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\n", s.Slot, s.Label, s.Serial, src, s.Sessions)
		}
		if problem {
			return 1
		}
	}
	return 0
}

func pids(p []int) string {
	if len(p) == 0 {
		return "-"
	}
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

// checkConfig checks a broker.toml as the broker would load it.
func checkConfig(args []string) int {
	if len(args) > 1 {
		return 2
	}
	path := "/etc/gop11/broker.toml"
	if len(args) == 1 {
		path = args[0]
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gop11 check-config: %v\n", err)
		return 1
	}
	fmt.Printf("%s: OK: %d listeners, %d modules, %d tokens, %d groups, %d clients\n", path, len(cfg.Listen), len(cfg.Modules), len(cfg.Tokens), len(cfg.Groups), len(cfg.Clients))
	return 0
}
