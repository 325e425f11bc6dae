package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml", "broker = \"unix:///run/x.sock\"\ndial_timeout = \"2s\"\nlog = \"/tmp/m.log\"\n")
	typo := write("typo.toml", "broker = \"unix:///run/x.sock\"\nbrokr = \"unix:///y\"\n")
	badEP := write("ep.toml", "broker = \"http://x\"\n")
	badDur := write("dur.toml", "broker = \"unix:///x.sock\"\ndial_timeout = \"soon\"\n")
	syntax := write("syntax.toml", "broker = \n")
	xdg := filepath.Join(dir, "xdg")
	os.MkdirAll(filepath.Join(xdg, "gop11"), 0o700)
	write("xdg/gop11/client.toml", "broker = \"unix:///xdg.sock\"\n")

	for _, tc := range []struct {
		name   string
		env    map[string]string
		broker string
		source string
		errHas string
	}{
		{"GOP11_BROKER wins", map[string]string{"GOP11_BROKER": "unix:///e.sock", "GOP11_CONFIG": good}, "unix:///e.sock", "GOP11_BROKER", ""},
		{"GOP11_CONFIG", map[string]string{"GOP11_CONFIG": good}, "unix:///run/x.sock", good, ""},
		{"XDG config", map[string]string{"XDG_CONFIG_HOME": xdg}, "unix:///xdg.sock", filepath.Join(xdg, "gop11", "client.toml"), ""},
		{"HOME config", map[string]string{"HOME": filepath.Join(dir, "nohome")}, DefaultEndpoint, "default", ""},
		{"unknown key", map[string]string{"GOP11_CONFIG": typo}, "", "", "typo.toml:2: brokr: unknown key"},
		{"bad endpoint", map[string]string{"GOP11_CONFIG": badEP}, "", "", "scheme must be unix or tcp"},
		{"bad duration", map[string]string{"GOP11_CONFIG": badDur}, "", "", `dial_timeout "soon"`},
		{"syntax", map[string]string{"GOP11_CONFIG": syntax}, "", "", "syntax.toml:1:"},
		{"missing file", map[string]string{"GOP11_CONFIG": filepath.Join(dir, "none.toml")}, "", "", "none.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(func(k string) string { return tc.env[k] })
			if tc.errHas != "" {
				if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %v, want ErrConfig containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Broker != tc.broker || cfg.Source != tc.source {
				t.Errorf("got %q from %q, want %q from %q", cfg.Broker, cfg.Source, tc.broker, tc.source)
			}
		})
	}
	cfg, _ := LoadConfig(func(k string) string { return map[string]string{"GOP11_CONFIG": good, "GOP11_LOG": "/tmp/env.log"}[k] })
	if cfg.DialTimeout != 2*time.Second || cfg.Log != "/tmp/env.log" {
		t.Errorf("dial timeout %v, log %q: want 2s and GOP11_LOG winning", cfg.DialTimeout, cfg.Log)
	}
}
