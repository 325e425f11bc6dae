// Package client is the module's state, in pure Go: where the broker is,
// the connection to it, the application's sessions and the results kept
// between the two calls of the spec's two-call convention.
//
// Concurrency: every method may be called from many application threads at
// once. The connection is replaced under a mutex only when it is lost;
// calls take no lock shared with other sessions.
package client

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gop11/gop11/broker/audit"
	"github.com/gop11/gop11/wire"
	"github.com/pelletier/go-toml/v2"
)

// Config is what the module knows. Applications give a module nothing but
// its path, so it comes from the environment or a file.
type Config struct {
	// Broker: unix:///path, tls://host:port or tcp://host:port; several,
	// comma-separated, are tried in order, and the client fails over to
	// the next when its broker is lost.
	Broker      string        `toml:"broker"`
	Log         string        `toml:"log"`          // the module's log file; GOP11_LOG wins
	DialTimeout time.Duration `toml:"dial_timeout"` // connect + handshake, e.g. "5s"
	// LaneSpin: how long a call polls for its answer before its thread
	// sleeps (wire.SetLaneSpin; "0s": never). GOP11_LANE_SPIN wins.
	LaneSpin time.Duration `toml:"lane_spin"`
	// LogVerbosity is how much of its own calls the module logs to Log:
	// the broker's [audit] verbosities (none ... full), default "quiet".
	LogVerbosity string    `toml:"log_verbosity"`
	TLS          TLSConfig `toml:"tls"`
	// Mechanisms are the vendor mechanisms of [[mechanism]], by type,
	// whose parameters the module may carry (wire/vendor.go).
	Mechanisms  map[uint64]wire.VendorLayout `toml:"-"`
	Source      string                       `toml:"-"` // where Broker came from, for messages
	File        string                       `toml:"-"` // the config file read, if any
	laneSpinSet bool
}

// TLSConfig is client.toml's [tls]: what a tls:// broker needs.
type TLSConfig struct {
	CA         string `toml:"ca"`          // the CA that signed the broker's certificate
	Cert       string `toml:"cert"`        // the client's certificate
	Key        string `toml:"key"`         // and its key
	ServerName string `toml:"server_name"` // the broker's name in its certificate; default the endpoint's host
}

// ErrConfig wraps every configuration problem.
var ErrConfig = errors.New("gop11 client config")

// LoadConfig finds the broker: GOP11_BROKER, then the file GOP11_CONFIG,
// then the platform's config file (defaultFile: on Linux
// $XDG_CONFIG_HOME/gop11/client.toml, default ~/.config/..., then
// /etc/gop11/client.toml), else DefaultEndpoint. The file is read even
// when GOP11_BROKER names the broker, for its other keys ([tls] above
// all); a file that exists but does not parse is an error, not skipped.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{Source: "default"}
	path := getenv("GOP11_CONFIG")
	if path == "" {
		path = defaultFile(getenv)
	}
	if path != "" {
		c, err := readFile(path)
		if err != nil {
			return cfg, err
		}
		cfg = c
	}
	if b := getenv("GOP11_BROKER"); b != "" {
		cfg.Broker, cfg.Source = b, "GOP11_BROKER"
	}
	if cfg.Broker == "" {
		if DefaultEndpoint == "" {
			return cfg, fmt.Errorf("%w: no broker named: %s", ErrConfig, whereToName)
		}
		cfg.Broker, cfg.Source = DefaultEndpoint, "default"
	}
	if l := getenv("GOP11_LOG"); l != "" {
		cfg.Log = l
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.LogVerbosity == "" {
		cfg.LogVerbosity = "quiet"
	}
	if !cfg.laneSpinSet {
		cfg.LaneSpin = wire.DefaultLaneSpin
	}
	if v := getenv("GOP11_LANE_SPIN"); v != "" {
		d, err := parseLaneSpin("GOP11_LANE_SPIN", v)
		if err != nil {
			return cfg, err
		}
		cfg.LaneSpin = d
	}
	eps, err := cfg.Endpoints()
	if err != nil {
		return cfg, fmt.Errorf("%w: %s: %v", ErrConfig, cfg.Source, err)
	}
	if slices.ContainsFunc(eps, func(ep wire.Endpoint) bool { return ep.Network == "tls" }) {
		if missing := cfg.TLS.missing(); missing != "" {
			where := "no config file was found"
			if cfg.File != "" {
				where = cfg.File + " has no " + missing
			}
			return cfg, fmt.Errorf("%w: %s (from %s) needs [tls] ca, cert and key in the client config: %s", ErrConfig, cfg.Broker, cfg.Source, where)
		}
	}
	return cfg, nil
}

// Endpoints parses Broker: one endpoint, or several separated by commas.
func (c Config) Endpoints() ([]wire.Endpoint, error) {
	var eps []wire.Endpoint
	for _, b := range strings.Split(c.Broker, ",") {
		b = strings.TrimSpace(b)
		if scheme, _, ok := strings.Cut(b, "://"); ok && transports != nil && !slices.Contains(transports, scheme) {
			return nil, fmt.Errorf("%s: this platform's client speaks %s:// only", b, strings.Join(transports, ":// and "))
		}
		ep, err := wire.ParseEndpoint(b)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// missing names the keys a tls:// broker needs that t lacks, "" if none.
func (t TLSConfig) missing() string {
	var m []string
	for _, k := range []struct{ name, v string }{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
		if k.v == "" {
			m = append(m, "[tls] "+k.name)
		}
	}
	return strings.Join(m, ", ")
}

// readFile decodes a client.toml strictly: an unknown key is an error
// naming it and its line, so a typo is not silently ignored. (The same
// TOML library as the broker's config: go-toml/v2.)
func readFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return parseFile(path, data)
}

// parseFile decodes the client.toml text data, read from path.
func parseFile(path string, data []byte) (Config, error) {
	var raw struct {
		Broker       any                  `toml:"broker"` // a string, or an array of them
		Log          string               `toml:"log"`
		DialTimeout  string               `toml:"dial_timeout"`
		LaneSpin     string               `toml:"lane_spin"`
		LogVerbosity string               `toml:"log_verbosity"`
		TLS          TLSConfig            `toml:"tls"`
		Mechanism    []wire.MechanismDecl `toml:"mechanism"`
	}
	var err error
	d := toml.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&raw); err != nil {
		var strict *toml.StrictMissingError
		var syntax *toml.DecodeError
		switch {
		case errors.As(err, &strict) && len(strict.Errors) > 0:
			e := strict.Errors[0]
			row, _ := e.Position()
			return Config{}, fmt.Errorf("%w: %s:%d: %s: unknown key", ErrConfig, path, row, strings.Join(e.Key(), "."))
		case errors.As(err, &syntax):
			row, _ := syntax.Position()
			return Config{}, fmt.Errorf("%w: %s:%d: %v", ErrConfig, path, row, syntax)
		}
		return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	cfg := Config{Log: raw.Log, TLS: raw.TLS, Source: path, File: path, LogVerbosity: raw.LogVerbosity}
	if len(raw.Mechanism) > 0 {
		if cfg.Mechanisms, err = wire.VendorMechanisms(raw.Mechanism); err != nil {
			return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
		}
	}
	if cfg.LogVerbosity != "" {
		if _, ok := audit.ParseLevel(cfg.LogVerbosity); !ok {
			return Config{}, fmt.Errorf("%w: %s: log_verbosity %q: want one of %s", ErrConfig, path, cfg.LogVerbosity, strings.Join(audit.Levels, ", "))
		}
	}
	switch b := raw.Broker.(type) {
	case nil:
	case string:
		cfg.Broker = b
	case []any:
		var list []string
		for _, e := range b {
			s, ok := e.(string)
			if !ok || s == "" || strings.Contains(s, ",") {
				return Config{}, fmt.Errorf("%w: %s: broker: want a string or an array of endpoint strings", ErrConfig, path)
			}
			list = append(list, s)
		}
		cfg.Broker = strings.Join(list, ",")
	default:
		return Config{}, fmt.Errorf("%w: %s: broker: want a string or an array of endpoint strings", ErrConfig, path)
	}
	if raw.DialTimeout != "" {
		d, err := time.ParseDuration(raw.DialTimeout)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%w: %s: dial_timeout %q: want a duration such as \"5s\"", ErrConfig, path, raw.DialTimeout)
		}
		cfg.DialTimeout = d
	}
	if raw.LaneSpin != "" {
		d, err := parseLaneSpin(path+": lane_spin", raw.LaneSpin)
		if err != nil {
			return Config{}, err
		}
		cfg.LaneSpin, cfg.laneSpinSet = d, true
	}
	return cfg, nil
}

// parseLaneSpin reads a lane spin given by where: a duration, 0 or more.
func parseLaneSpin(where, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: %s %q: want a duration such as \"50us\" or \"0s\"", ErrConfig, where, v)
	}
	return d, nil
}
