package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/wire"
)

// configWriter writes named config files into a temporary directory.
func configWriter(t *testing.T) (dir string, write func(name, text string) string) {
	t.Helper()
	dir = t.TempDir()
	return dir, func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// loadCase runs LoadConfig on env; when errHas is set it checks the error
// and returns false.
func loadCase(t *testing.T, env map[string]string, errHas string) (Config, bool) {
	t.Helper()
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if errHas != "" {
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), errHas) {
			t.Fatalf("error %v, want ErrConfig containing %q", err, errHas)
		}
		return cfg, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg, true
}

func TestLoadConfig(t *testing.T) {
	dir, write := configWriter(t)
	good := write("good.toml", "broker = \"unix:///run/x.sock\"\ndial_timeout = \"2s\"\nlog = \"/tmp/m.log\"\n")
	typo := write("typo.toml", "broker = \"unix:///run/x.sock\"\nbrokr = \"unix:///y\"\n")
	badEP := write("ep.toml", "broker = \"http://x\"\n")
	badDur := write("dur.toml", "broker = \"unix:///x.sock\"\ndial_timeout = \"soon\"\n")
	syntax := write("syntax.toml", "broker = \n")
	noBroker := write("nobroker.toml", "dial_timeout = \"2s\"\n")
	xdg := filepath.Join(dir, "xdg")
	os.MkdirAll(filepath.Join(xdg, "gop11"), 0o700)
	write("xdg/gop11/client.toml", "broker = \"unix:///xdg.sock\"\n")
	tlsText := "broker = \"tls://broker.example.org:7011\"\n[tls]\nca = \"/c/ca.crt\"\ncert = \"/c/me.crt\"\nkey = \"/c/me.key\"\nserver_name = \"b.example.org\"\n"
	tlsGood := write("tls.toml", tlsText)
	tlsNone := write("tlsnone.toml", "broker = \"tls://b:7011\"\n")
	tlsHalf := write("tlshalf.toml", "broker = \"tls://b:7011\"\n[tls]\nca = \"/c/ca.crt\"\ncert = \"/c/me.crt\"\n")
	tlsTypo := write("tlstypo.toml", "broker = \"tls://b:7011\"\n[tls]\ncertificate = \"/c/me.crt\"\n")
	xdgTLS := filepath.Join(dir, "xdgtls")
	os.MkdirAll(filepath.Join(xdgTLS, "gop11"), 0o700)
	write("xdgtls/gop11/client.toml", tlsText)

	for _, tc := range []struct {
		name   string
		env    map[string]string
		broker string
		source string
		errHas string
		dial   time.Duration // 0: not checked
	}{
		{"GOP11_BROKER wins, the file gives the rest", map[string]string{"GOP11_BROKER": "unix:///e.sock", "GOP11_CONFIG": good}, "unix:///e.sock", "GOP11_BROKER", "", 2 * time.Second},
		{"GOP11_BROKER, a broken file", map[string]string{"GOP11_BROKER": "unix:///e.sock", "GOP11_CONFIG": syntax}, "", "", "syntax.toml:1:", 0},
		{"GOP11_BROKER, no file", map[string]string{"GOP11_BROKER": "unix:///e.sock", "HOME": filepath.Join(dir, "nohome")}, "unix:///e.sock", "GOP11_BROKER", "", 5 * time.Second},
		{"a file without broker", map[string]string{"GOP11_CONFIG": noBroker}, DefaultEndpoint, "default", "", 2 * time.Second},
		{"GOP11_CONFIG", map[string]string{"GOP11_CONFIG": good}, "unix:///run/x.sock", good, "", 0},
		{"XDG config", map[string]string{"XDG_CONFIG_HOME": xdg}, "unix:///xdg.sock", filepath.Join(xdg, "gop11", "client.toml"), "", 0},
		{"HOME config", map[string]string{"HOME": filepath.Join(dir, "nohome")}, DefaultEndpoint, "default", "", 0},
		{"unknown key", map[string]string{"GOP11_CONFIG": typo}, "", "", "typo.toml:2: brokr: unknown key", 0},
		{"bad endpoint", map[string]string{"GOP11_CONFIG": badEP}, "", "", "scheme must be unix, tls or tcp", 0},
		{"bad duration", map[string]string{"GOP11_CONFIG": badDur}, "", "", `dial_timeout "soon"`, 0},
		{"syntax", map[string]string{"GOP11_CONFIG": syntax}, "", "", "syntax.toml:1:", 0},
		{"missing file", map[string]string{"GOP11_CONFIG": filepath.Join(dir, "none.toml")}, "", "", "none.toml", 0},
		{"tls", map[string]string{"GOP11_CONFIG": tlsGood}, "tls://broker.example.org:7011", tlsGood, "", 0},
		{"tls from GOP11_BROKER, [tls] from the file", map[string]string{"GOP11_BROKER": "tls://127.0.0.1:7011", "GOP11_CONFIG": tlsGood}, "tls://127.0.0.1:7011", "GOP11_BROKER", "", 0},
		{"GOP11_BROKER, [tls] from the XDG file", map[string]string{"GOP11_BROKER": "tls://127.0.0.1:7011", "XDG_CONFIG_HOME": xdgTLS}, "tls://127.0.0.1:7011", "GOP11_BROKER", "", 0},
		{"tls without [tls]", map[string]string{"GOP11_CONFIG": tlsNone}, "", "", "tls://b:7011 (from " + tlsNone + ") needs [tls] ca, cert and key in the client config: " + tlsNone + " has no [tls] ca, [tls] cert, [tls] key", 0},
		{"tls from GOP11_BROKER without a file", map[string]string{"GOP11_BROKER": "tls://b:7011"}, "", "", "tls://b:7011 (from GOP11_BROKER) needs [tls] ca, cert and key in the client config: no config file was found", 0},
		{"tls without key", map[string]string{"GOP11_CONFIG": tlsHalf}, "", "", tlsHalf + " has no [tls] key", 0},
		{"tls unknown key", map[string]string{"GOP11_CONFIG": tlsTypo}, "", "", "tlstypo.toml:3: tls.certificate: unknown key", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok := loadCase(t, tc.env, tc.errHas)
			if !ok {
				return
			}
			if cfg.Broker != tc.broker || cfg.Source != tc.source {
				t.Errorf("got %q from %q, want %q from %q", cfg.Broker, cfg.Source, tc.broker, tc.source)
			}
			if tc.dial != 0 && cfg.DialTimeout != tc.dial {
				t.Errorf("dial timeout %v, want %v", cfg.DialTimeout, tc.dial)
			}
		})
	}
	cfg, _ := LoadConfig(func(k string) string {
		return map[string]string{"GOP11_BROKER": "tls://127.0.0.1:7011", "GOP11_CONFIG": tlsGood}[k]
	})
	if want := (TLSConfig{CA: "/c/ca.crt", Cert: "/c/me.crt", Key: "/c/me.key", ServerName: "b.example.org"}); cfg.TLS != want {
		t.Errorf("[tls] %+v, want %+v", cfg.TLS, want)
	}
	cfg, _ = LoadConfig(func(k string) string { return map[string]string{"GOP11_CONFIG": good, "GOP11_LOG": "/tmp/env.log"}[k] })
	if cfg.DialTimeout != 2*time.Second || cfg.Log != "/tmp/env.log" {
		t.Errorf("dial timeout %v, log %q: want 2s and GOP11_LOG winning", cfg.DialTimeout, cfg.Log)
	}
}

func TestLaneSpinConfig(t *testing.T) {
	_, write := configWriter(t)
	off := write("off.toml", "lane_spin = \"0s\"\n")
	long := write("long.toml", "lane_spin = \"250us\"\n")
	bad := write("bad.toml", "lane_spin = \"-1ms\"\n")
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   time.Duration
		errHas string
	}{
		{"default", map[string]string{"GOP11_BROKER": "unix:///x.sock"}, wire.DefaultLaneSpin, ""},
		{"file turns it off", map[string]string{"GOP11_CONFIG": off}, 0, ""},
		{"file", map[string]string{"GOP11_CONFIG": long}, 250 * time.Microsecond, ""},
		{"environment wins", map[string]string{"GOP11_CONFIG": long, "GOP11_LANE_SPIN": "20us"}, 20 * time.Microsecond, ""},
		{"environment with GOP11_BROKER", map[string]string{"GOP11_BROKER": "unix:///x.sock", "GOP11_LANE_SPIN": "0"}, 0, ""},
		{"negative in file", map[string]string{"GOP11_CONFIG": bad}, 0, `lane_spin "-1ms"`},
		{"not a duration", map[string]string{"GOP11_BROKER": "unix:///x.sock", "GOP11_LANE_SPIN": "fast"}, 0, `GOP11_LANE_SPIN "fast"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok := loadCase(t, tc.env, tc.errHas)
			if !ok {
				return
			}
			if cfg.LaneSpin != tc.want {
				t.Errorf("lane spin %v, want %v", cfg.LaneSpin, tc.want)
			}
		})
	}
}

// TestBrokerLists: several brokers, comma-separated in GOP11_BROKER or an
// array in client.toml, are tried in that order; a bad entry names itself.
func TestBrokerLists(t *testing.T) {
	_, write := configWriter(t)
	array := write("array.toml", "broker = [\"unix:///run/a.sock\", \"tls://b.example.org:7011\"]\n[tls]\nca = \"/c\"\ncert = \"/d\"\nkey = \"/e\"\n")
	mixed := write("mixed.toml", "broker = [\"unix:///run/a.sock\", 7]\n")
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   []string
		errHas string
	}{
		{"one", map[string]string{"GOP11_BROKER": "unix:///run/a.sock"}, []string{"unix:///run/a.sock"}, ""},
		{"env list", map[string]string{"GOP11_BROKER": "unix:///run/a.sock, unix:///run/b.sock"}, []string{"unix:///run/a.sock", "unix:///run/b.sock"}, ""},
		{"file array", map[string]string{"GOP11_CONFIG": array}, []string{"unix:///run/a.sock", "tls://b.example.org:7011"}, ""},
		{"array of a number", map[string]string{"GOP11_CONFIG": mixed}, nil, "broker: want a string or an array of endpoint strings"},
		{"bad second", map[string]string{"GOP11_BROKER": "unix:///run/a.sock,http://x"}, nil, "GOP11_BROKER"},
		{"tls second without [tls]", map[string]string{"GOP11_BROKER": "unix:///run/a.sock,tls://b:7011"}, nil, "needs [tls] ca, cert and key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ok := loadCase(t, tc.env, tc.errHas)
			if !ok {
				return
			}
			eps, err := cfg.Endpoints()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ep := range eps {
				got = append(got, ep.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("endpoints %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLogVerbosity(t *testing.T) {
	_, write := configWriter(t)
	for _, tc := range []struct{ text, want, errHas string }{
		{"broker = \"unix:///x.sock\"\n", "quiet", ""},
		{"broker = \"unix:///x.sock\"\nlog_verbosity = \"full\"\n", "full", ""},
		{"broker = \"unix:///x.sock\"\nlog_verbosity = \"debug\"\n", "", `log_verbosity "debug": want one of none, key_only, quiet, info, verbose, full`},
	} {
		cfg, ok := loadCase(t, map[string]string{"GOP11_CONFIG": write("c.toml", tc.text)}, tc.errHas)
		if ok && cfg.LogVerbosity != tc.want {
			t.Errorf("%q: log_verbosity %q, want %q", tc.text, cfg.LogVerbosity, tc.want)
		}
	}
}

func TestVendorMechanismConfig(t *testing.T) {
	_, write := configWriter(t)
	for _, tc := range []struct {
		text   string
		n      int
		errHas string
	}{
		{"[[mechanism]]\ntype = 0x80000f11\nlayout = \"struct(ulong, bytes)\"\n", 1, ""},
		{"[[mechanism]]\ntype = 0x80000f11\nlayout = \"bytes\"\n[[mechanism]]\ntype = 0x80000f12\nlayout = \"ulong\"\n", 2, ""},
		{"[[mechanism]]\ntype = 0x80000f11\nlayout = \"struct(ulong, bytes)\"\n[[mechanism]]\ntype = 0x80000f11\nlayout = \"bytes\"\n", 0, "mechanism[2]: type 0x80000f11 declared twice"},
		{"[[mechanism]]\nname = \"x\"\nlayout = \"bytes\"\n", 0, "mechanism[1] (x): type: missing"},
		{"[[mechanism]]\ntype = 0x80000f11\nlayout = \"struct(ulong, bytes)\"\nfields = 2\n", 0, "mechanism.fields: unknown key"},
	} {
		cfg, ok := loadCase(t, map[string]string{"GOP11_CONFIG": write("m.toml", tc.text)}, tc.errHas)
		if ok && len(cfg.Mechanisms) != tc.n {
			t.Errorf("%q: %d mechanisms, want %d", tc.text, len(cfg.Mechanisms), tc.n)
		}
	}
}

// FuzzParseFile: any client.toml text parses or fails with an ErrConfig
// naming the file; what parses has a broker list that parses or fails the
// same way, and keys that do not contradict themselves.
func FuzzParseFile(f *testing.F) {
	for _, s := range []string{
		"broker = \"unix:///run/gop11/gop11.sock\"\n",
		"broker = [\"tls://a:1\", \"tls://b:2\"]\ndial_timeout = \"3s\"\n[tls]\nca = 'x'\ncert = 'y'\nkey = 'z'\n",
		"lane_spin = \"0s\"\nlog_verbosity = \"full\"\nlog = '/tmp/l'\n",
		"[[mechanism]]\ntype = 0x80000F11\nlayout = \"struct(ulong, bytes)\"\n",
		"brokr = 1\n", "broker = 7\n", "dial_timeout = \"-1s\"\n", "[tls\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := parseFile("fuzz.toml", []byte(text))
		if err != nil {
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("error %q: want ErrConfig naming the file", err)
			}
			return
		}
		if cfg.DialTimeout < 0 || cfg.LaneSpin < 0 {
			t.Fatalf("negative duration: dial %v, lane spin %v", cfg.DialTimeout, cfg.LaneSpin)
		}
		if cfg.Broker != "" {
			if eps, err := cfg.Endpoints(); err == nil && len(eps) == 0 {
				t.Fatalf("broker %q: no endpoints and no error", cfg.Broker)
			}
		}
		for typ, l := range cfg.Mechanisms {
			if _, err := wire.ParseVendorLayout(l.String()); err != nil {
				t.Fatalf("mechanism %#x: layout %q does not parse back: %v", typ, l, err)
			}
		}
	})
}
