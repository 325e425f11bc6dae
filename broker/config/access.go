package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/wire"
)

// TLS is the [tls] section: the broker's certificate and the CA its
// clients' certificates must chain to. TLS is always mutual.
type TLS struct {
	Cert, Key, ClientCA string
	RevokedSerials      []*big.Int // refused even when the CA signed them
}

type rawTLS struct {
	Cert           *string   `toml:"cert"`
	Key            *string   `toml:"key"`
	ClientCA       *string   `toml:"client_ca"`
	RevokedSerials *[]string `toml:"revoked_serials"`
}

type rawClient struct {
	Name        *string   `toml:"name"`
	UIDs        *[]int64  `toml:"uids"`
	GIDs        *[]int64  `toml:"gids"`
	CertNames   *[]string `toml:"cert_names"`
	Slots       *[]int64  `toml:"slots"`
	Objects     *[]string `toml:"objects"`
	Mechanisms  *[]string `toml:"mechanisms"`
	Operations  *[]string `toml:"operations"`
	Login       *string   `toml:"login"`
	ReadOnly    *bool     `toml:"read_only"`
	Admin       *bool     `toml:"admin"`
	MaxSessions *int64    `toml:"max_sessions"`
}

// PinSource is where a broker-held PIN is read from, when first needed:
// never from this file itself.
type PinSource struct {
	Kind string // "file", "env" or "credential"
	Ref  string // the path, variable or credential name
}

// String names the source, never the PIN.
func (s *PinSource) String() string { return s.Kind + ":" + s.Ref }

// parsePin parses file:/abs/path, env:VAR or credential:NAME. A file must
// be the broker user's, mode 0600 or 0400: a PIN anyone can read is no
// secret. Messages do not quote a malformed value: it may be the PIN.
func parsePin(v string, o ParseOptions) (*PinSource, error) {
	kind, ref, ok := strings.Cut(v, ":")
	if !ok || ref == "" {
		return nil, errors.New(`want "file:/path", "env:VAR" or "credential:NAME"`)
	}
	s := &PinSource{Kind: kind, Ref: ref}
	switch kind {
	case "file":
		if !filepath.IsAbs(ref) {
			return nil, errors.New("file: want an absolute path")
		}
		if !o.SkipFileChecks {
			if err := checkSecretFile(ref); err != nil {
				return nil, err
			}
		}
	case "env":
		if strings.ContainsAny(ref, "=\x00") {
			return nil, errors.New("env: not a valid environment variable name")
		}
	case "credential":
		if strings.ContainsAny(ref, "/\x00") || ref == "." || ref == ".." {
			return nil, errors.New("credential: want a credential name, without '/'")
		}
	default:
		return nil, errors.New(`unknown source: want "file:/path", "env:VAR" or "credential:NAME"`)
	}
	return s, nil
}

// BrokerUID is the uid the broker will run as (gop11-broker --user), when
// it checks files as root before it becomes that user; -1: its own.
var BrokerUID = -1

func checkSecretFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %v", show(path), err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", show(path))
	}
	if m := fi.Mode().Perm(); m != 0o600 && m != 0o400 {
		return fmt.Errorf("%s: mode %04o: want 0600 or 0400", show(path), m)
	}
	owner := os.Geteuid()
	if BrokerUID >= 0 {
		owner = BrokerUID
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != owner {
		return fmt.Errorf("%s: owned by uid %d, not by the broker's user (uid %d)", show(path), st.Uid, owner)
	}
	return nil
}

// Read reads the PIN. One trailing newline is not part of it. Errors
// name the source, never its content.
func (s *PinSource) Read() (wire.PIN, error) {
	var data []byte
	switch s.Kind {
	case "file":
		if err := checkSecretFile(s.Ref); err != nil {
			return nil, fmt.Errorf("pin %s: %w", s.Kind, err)
		}
		b, err := os.ReadFile(s.Ref)
		if err != nil {
			return nil, fmt.Errorf("pin file %s: cannot read", show(s.Ref))
		}
		data = b
	case "env":
		v, ok := os.LookupEnv(s.Ref)
		if !ok {
			return nil, fmt.Errorf("pin env:%s: the variable is not set", s.Ref)
		}
		data = []byte(v)
	case "credential":
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return nil, fmt.Errorf("pin credential:%s: $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=)", s.Ref)
		}
		b, err := os.ReadFile(filepath.Join(dir, s.Ref))
		if err != nil {
			return nil, fmt.Errorf("pin credential:%s: cannot read it from $CREDENTIALS_DIRECTORY", s.Ref)
		}
		data = b
	}
	if n := len(data); n > 0 && data[n-1] == '\n' {
		data = data[:n-1]
		if n := len(data); n > 0 && data[n-1] == '\r' {
			data = data[:n-1]
		}
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("pin %s: empty", s)
	}
	return wire.PIN(data), nil
}

func (p *parser) tls(raw *rawTLS, c *Config, o ParseOptions) error {
	if raw == nil {
		return nil
	}
	t := &TLS{}
	for _, f := range []struct {
		key string
		v   *string
		dst *string
	}{{"cert", raw.Cert, &t.Cert}, {"key", raw.Key, &t.Key}, {"client_ca", raw.ClientCA, &t.ClientCA}} {
		k := "tls." + f.key
		if f.v == nil {
			return p.errorf(k, "required in [tls]")
		}
		if !filepath.IsAbs(*f.v) {
			return p.errorf(k, "%s: want an absolute path", show(*f.v))
		}
		if !o.SkipFileChecks {
			if _, err := os.Stat(*f.v); err != nil {
				return p.errorf(k, "%s: no such file", show(*f.v))
			}
		}
		*f.dst = *f.v
	}
	if !o.SkipFileChecks {
		if err := checkSecretFile(t.Key); err != nil {
			return p.errorf("tls.key", "%v", err)
		}
	}
	if raw.RevokedSerials != nil {
		for i, s := range *raw.RevokedSerials {
			n, ok := ParseSerial(s)
			if !ok {
				return p.errorf(fmt.Sprintf("tls.revoked_serials[%d]", i), "%q: want a serial number in hex, such as \"1f:a0:03\" or \"1FA003\"", s)
			}
			t.RevokedSerials = append(t.RevokedSerials, n)
		}
	}
	c.TLS = t
	return nil
}

// ParseSerial reads a certificate serial number written in hex, with or
// without colons or a 0x prefix, as openssl and browsers show them.
func ParseSerial(s string) (*big.Int, bool) {
	h := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s), "0x"), ":", "")
	if h == "" {
		return nil, false
	}
	return new(big.Int).SetString(h, 16)
}

// checkListeners: tls:// needs [tls]; plaintext tcp:// only on loopback
// and only with insecure_tcp = true.
func (p *parser) checkListeners(c *Config) error {
	for i, s := range c.Listen {
		ep, _ := wire.ParseEndpoint(s) // checked already
		key := fmt.Sprintf("listen[%d]", i)
		switch ep.Network {
		case "tls":
			if c.TLS == nil {
				return p.errorf(key, "%s: a tls:// listener needs a [tls] section (cert, key, client_ca)", s)
			}
		case "tcp":
			if err := CheckPlainTCP(ep.Address, c.InsecureTCP); err != nil {
				return p.errorf(key, "%s: %v", s, err)
			}
		}
	}
	return nil
}

// CheckPlainTCP allows a plaintext TCP listener only on a loopback
// address, and only when asked for (insecure_tcp, --insecure-tcp).
func CheckPlainTCP(addr string, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("plaintext tcp:// is allowed only on a loopback address: use tls:// with a [tls] section")
	}
	if !insecure {
		return errors.New("plaintext tcp:// needs insecure_tcp = true (loopback only); use tls:// otherwise")
	}
	return nil
}

func (p *parser) clients(raws []rawClient, c *Config, o ParseOptions) error {
	names := map[string]int{}
	for i, rc := range raws {
		k := func(s string) string { return fmt.Sprintf("client[%d].%s", i, s) }
		pol := &acl.Policy{Login: acl.LoginClient, Line: p.idx.lineOf(fmt.Sprintf("client[%d]", i))}
		if rc.Name == nil {
			return p.errorf(k("name"), "required")
		}
		if !nameRE.MatchString(*rc.Name) {
			return p.errorf(k("name"), "%q: want letters, digits, '_', '.' or '-'", *rc.Name)
		}
		if j, dup := names[*rc.Name]; dup {
			return p.errorf(k("name"), "duplicate name %q (first at line %d)", *rc.Name, p.idx.lineOf(fmt.Sprintf("client[%d].name", j)))
		}
		names[*rc.Name] = i
		pol.Name = *rc.Name
		if rc.UIDs == nil && rc.GIDs == nil && rc.CertNames == nil {
			return p.errorf(fmt.Sprintf("client[%d]", i), "needs uids, gids or cert_names: a client that names nobody matches nobody")
		}
		for name, ids := range map[string]*[]int64{"uids": rc.UIDs, "gids": rc.GIDs} {
			if ids == nil {
				continue
			}
			if len(*ids) == 0 {
				return p.errorf(k(name), "empty: list one or more IDs, or leave the key out")
			}
			out := make([]int, 0, len(*ids))
			for _, id := range *ids {
				if id < 0 || id > 1<<32-2 {
					return p.errorf(k(name), "%d: not a valid ID", id)
				}
				out = append(out, int(id))
			}
			if name == "uids" {
				pol.UIDs = out
			} else {
				pol.GIDs = out
			}
		}
		if rc.CertNames != nil {
			if len(*rc.CertNames) == 0 || slices.Contains(*rc.CertNames, "") {
				return p.errorf(k("cert_names"), "want one or more non-empty names, or leave the key out")
			}
			pol.CertNames = *rc.CertNames
		}
		if rc.Slots != nil {
			for _, s := range *rc.Slots {
				if s < 0 {
					return p.errorf(k("slots"), "%d: not a slot ID", s)
				}
				if !o.Quick && !c.servesSlot(uint64(s)) {
					return p.errorf(k("slots"), "slot %d is not the slot of any [[token]] or [[group]]", s)
				}
				pol.Slots = append(pol.Slots, uint64(s))
			}
			if len(pol.Slots) == 0 {
				return p.errorf(k("slots"), "empty: list one or more slots, or leave the key out for every slot")
			}
		}
		if rc.Objects != nil {
			for _, s := range *rc.Objects {
				op, err := acl.ParseObjectPattern(s)
				if err != nil {
					return p.errorf(k("objects"), "%v", err)
				}
				pol.Objects = append(pol.Objects, op)
			}
		}
		if rc.Mechanisms != nil {
			for _, s := range *rc.Mechanisms {
				if err := acl.CheckMechanismPattern(s); err != nil {
					return p.errorf(k("mechanisms"), "%v", err)
				}
			}
			pol.Mechanisms = *rc.Mechanisms
		}
		if rc.Operations != nil {
			for _, s := range *rc.Operations {
				if !slices.Contains(acl.Operations, acl.Operation(s)) {
					return p.errorf(k("operations"), "%q: not an operation; want one of %s", s, opList())
				}
				pol.Operations = append(pol.Operations, acl.Operation(s))
			}
		}
		if rc.Login != nil {
			switch *rc.Login {
			case acl.LoginClient, acl.LoginBroker:
				pol.Login = *rc.Login
			default:
				return p.errorf(k("login"), "%q: want %q or %q", *rc.Login, acl.LoginClient, acl.LoginBroker)
			}
		}
		if pol.Login == acl.LoginBroker && o.Quick {
			return p.errorf(k("login"), `"broker" needs a [[token]] with a pin: config mode, not --module`)
		}
		if pol.Login == acl.LoginBroker {
			for _, t := range c.Tokens {
				if !t.NoSlot && pol.SlotVisible(t.Slot) && t.Pin == nil {
					return p.errorf(k("login"), `"broker" needs a pin on every token the client sees: slot %d (line %d) has none`, t.Slot, t.Line)
				}
			}
			for _, g := range c.Groups {
				if pol.SlotVisible(g.Slot) && g.Pin == nil {
					return p.errorf(k("login"), `"broker" needs a pin on every token the client sees: group %s's slot %d (line %d) has none`, g.Name, g.Slot, g.Line)
				}
			}
		}
		if rc.Admin != nil {
			pol.Admin = *rc.Admin
		}
		if rc.ReadOnly != nil {
			pol.ReadOnly = *rc.ReadOnly
		}
		if rc.MaxSessions != nil {
			if *rc.MaxSessions < 0 || *rc.MaxSessions > 1<<31-1 {
				return p.errorf(k("max_sessions"), "%d: want 0 (no bound) or more", *rc.MaxSessions)
			}
			pol.MaxSessions = int(*rc.MaxSessions)
		}
		c.Clients = append(c.Clients, pol)
	}
	return nil
}

func opList() string {
	s := make([]string, len(acl.Operations))
	for i, o := range acl.Operations {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}
