package config

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gop11/gop11/broker/p11uri"
	"github.com/gop11/gop11/wire"
)

// Remote is one [[remote]]: a token served by another gop11 broker, which
// a [[group]] can list as a member.
type Remote struct {
	Name     string
	Endpoint wire.Endpoint // tls:// (mutual TLS) or unix://
	URI      *p11uri.URI   // the token among the remote broker's slots
	RawURI   string
	TLS      *RemoteTLS // for tls://: [remote.tls], else the broker's [tls]
	Line     int
}

// RemoteTLS is how the broker dials a tls:// remote: its client
// certificate and key, and the CA that signed the remote broker's.
type RemoteTLS struct {
	CA, Cert, Key string
	ServerName    string // the remote's name in its certificate; default the endpoint's host
}

type rawRemote struct {
	Name     *string       `toml:"name"`
	Endpoint *string       `toml:"endpoint"`
	URI      *string       `toml:"uri"`
	TLS      *rawRemoteTLS `toml:"tls"`
}

type rawRemoteTLS struct {
	CA         *string `toml:"ca"`
	Cert       *string `toml:"cert"`
	Key        *string `toml:"key"`
	ServerName *string `toml:"server_name"`
}

// Remote returns the [[remote]] called name, or nil.
func (c *Config) Remote(name string) *Remote {
	for i := range c.Remotes {
		if c.Remotes[i].Name == name {
			return &c.Remotes[i]
		}
	}
	return nil
}

func (p *parser) remotes(raw []rawRemote, c *Config, tokens map[string]int, o ParseOptions) error {
	for i, rr := range raw {
		k := func(s string) string { return fmt.Sprintf("remote[%d].%s", i, s) }
		r := Remote{Line: p.idx.lineOf(fmt.Sprintf("remote[%d]", i))}
		if rr.Name == nil {
			return p.errorf(k("name"), "required")
		}
		if !nameRE.MatchString(*rr.Name) {
			return p.errorf(k("name"), "%q: want letters, digits, '_', '.' or '-'", *rr.Name)
		}
		r.Name = *rr.Name
		if _, dup := tokens[r.Name]; dup {
			return p.errorf(k("name"), "%q is already the name of a [[token]]", r.Name)
		}
		if first := c.Remote(r.Name); first != nil {
			return p.errorf(k("name"), "duplicate name %q (first at line %d)", r.Name, first.Line)
		}
		if rr.Endpoint == nil {
			return p.errorf(k("endpoint"), "required")
		}
		ep, err := wire.ParseEndpoint(*rr.Endpoint)
		if err != nil {
			return p.errorf(k("endpoint"), "%v", err)
		}
		if ep.Network != "tls" && ep.Network != "unix" {
			return p.errorf(k("endpoint"), "%s: want tls://host:port (mutual TLS) or unix:///path", ep)
		}
		r.Endpoint = ep
		if rr.URI == nil {
			return p.errorf(k("uri"), "required")
		}
		if r.URI, err = p.tokenURI(k("uri"), *rr.URI); err != nil {
			return err
		}
		r.RawURI = *rr.URI
		if ep.Network == "tls" {
			if r.TLS, err = p.remoteTLS(i, rr.TLS, c.TLS, o); err != nil {
				return err
			}
		} else if rr.TLS != nil {
			return p.errorf(k("tls"), "%s is not a tls:// endpoint", ep)
		}
		c.Remotes = append(c.Remotes, r)
	}
	return nil
}

// remoteTLS: [remote.tls] as written, its missing keys taken from the
// broker's [tls] (its certificate and key, and client_ca as the CA).
func (p *parser) remoteTLS(i int, raw *rawRemoteTLS, own *TLS, o ParseOptions) (*RemoteTLS, error) {
	k := func(s string) string { return fmt.Sprintf("remote[%d].tls.%s", i, s) }
	if raw == nil {
		raw = &rawRemoteTLS{}
	}
	t := &RemoteTLS{}
	if raw.ServerName != nil {
		t.ServerName = *raw.ServerName
	}
	for _, f := range []struct {
		key   string
		v     *string
		dflt  func(*TLS) string
		dst   *string
		tlsKy string
	}{
		{"ca", raw.CA, func(t *TLS) string { return t.ClientCA }, &t.CA, "client_ca"},
		{"cert", raw.Cert, func(t *TLS) string { return t.Cert }, &t.Cert, "cert"},
		{"key", raw.Key, func(t *TLS) string { return t.Key }, &t.Key, "key"},
	} {
		switch {
		case f.v != nil:
			*f.dst = *f.v
		case own != nil:
			*f.dst = f.dflt(own)
			continue // checked with [tls]
		default:
			return nil, p.errorf(k(f.key), "required for a tls:// remote (or the broker's [tls] %s)", f.tlsKy)
		}
		if !filepath.IsAbs(*f.dst) {
			return nil, p.errorf(k(f.key), "%s: want an absolute path", show(*f.dst))
		}
		if !o.SkipFileChecks {
			if _, err := os.Stat(*f.dst); err != nil {
				return nil, p.errorf(k(f.key), "%s: no such file", show(*f.dst))
			}
			if f.key == "key" {
				if err := checkSecretFile(*f.dst); err != nil {
					return nil, p.errorf(k(f.key), "%v", err)
				}
			}
		}
	}
	return t, nil
}
