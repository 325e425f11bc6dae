// Package config loads the broker's TOML configuration file
// (cmd/gop11-broker/broker.example.toml documents every key).
//
// Decoding is strict: an unknown key, a value of the wrong type, a missing
// required key or an invalid value is an error, and every error is one
// line, FILE:LINE: KEY: what is wrong, for example
//
//	broker.toml:12: module[1].pathh: unknown key
//
// Load and Parse return a new *Config that nothing else refers to; it is
// safe for concurrent reads and nothing in this package writes to it later.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/audit"
	"github.com/gop11/gop11/broker/p11uri"
	"github.com/gop11/gop11/wire"
	"github.com/pelletier/go-toml/v2"
)

// ErrConfig is wrapped by every error Load and Parse return.
var ErrConfig = errors.New("invalid broker configuration")

// Error is one configuration error: the file, the line (0 when unknown),
// the key as written in messages (module[1].path) and what is wrong.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	// One line, whatever the file holds.
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(b.String())
}

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *Error) Unwrap() error { return ErrConfig }

// Defaults.
const (
	DefaultSocketMode  os.FileMode = 0o600
	DefaultLogLevel                = "info"
	DefaultLogFormat               = "json"
	DefaultIsolation               = IsolationProcess
	DefaultCallTimeout             = 30 * time.Second
	MaxSlot                        = 1<<31 - 1 // largest virtual slot ID
)

// Isolation values of a [[module]].
const (
	IsolationProcess   = "process"   // a worker process per connection
	IsolationShared    = "shared"    // one worker process serves every connection
	IsolationInProcess = "inprocess" // the module is loaded into the broker, shared
)

// DefaultMaxPINFailures: wrong PINs in a row before a shared module locks
// an identity out.
const DefaultMaxPINFailures = 10

// Config is the broker's configuration.
type Config struct {
	Path       string      // the file it was read from, for messages
	Raw        []byte      // the file as read (a hand-off worker parses it again)
	Listen     []string    // endpoints, unix:///abs/path or tcp://host:port
	SocketMode os.FileMode // permissions of unix socket files
	LogLevel   string      // debug, info, warn or error
	LogFormat  string      // json or console
	Modules    []Module
	Tokens     []Token
	Groups     []Group  // [[group]]: tokens holding the same keys, one slot
	Remotes    []Remote // [[remote]]: tokens of other brokers, group members
	// InsecureTCP allows tcp:// listeners (plaintext, loopback only).
	InsecureTCP bool
	// MetricsListen is where /metrics and /healthz are served over
	// plaintext HTTP: a loopback host:port; "" for none.
	MetricsListen string
	Audit         *Audit        // [audit]; nil: no audit log
	TLS           *TLS          // the [tls] section; nil if absent
	Clients       []*acl.Policy // the [[client]] policies, in file order
	// Mechanisms are the vendor mechanisms of [[mechanism]], by type:
	// their parameters are carried (wire/vendor.go).
	Mechanisms map[uint64]wire.VendorLayout
}

// Module is one [[module]]: a vendor PKCS #11 library.
type Module struct {
	Name      string
	Path      string // absolute path of the .so
	Isolation string // IsolationProcess, IsolationShared or IsolationInProcess
	Serialize bool   // forward one call at a time
	// MaxPINFailures: a shared module (shared, inprocess) locks an
	// identity out after this many wrong PINs in a row; 0: never.
	MaxPINFailures int
	// MaxRealSessions: a shared module keeps at most this many sessions
	// of its own open, whatever its clients open; 0: no limit.
	MaxRealSessions int
	// Handoff: the broker hands each connection, and its lanes, to the
	// shared module's worker, which serves it whole (policy, held PINs,
	// audit, virtual slots): no hop through the broker. Only for a config
	// whose one module this is (checked in Parse).
	Handoff     bool
	CallTimeout time.Duration
	Env         map[string]string // environment of the module's process; nil if none
	// InitArgs goes to the module's C_Initialize as pReserved (NSS's
	// softoken reads its configuration there). Never logged: vendors put
	// passwords in it.
	InitArgs string
	Line     int // line of its [[module]] header
}

// Token is one [[token]]: a token of a module that clients see as Slot.
type Token struct {
	Name   string      // optional; a [[group]] names its members so
	Module string      // a Module's Name
	URI    *p11uri.URI // path attributes only
	RawURI string      // as written in the file
	Slot   uint64      // virtual slot ID, unless NoSlot
	NoSlot bool        // a group member only, not a slot of its own
	Pin    *PinSource  // the broker-held PIN; nil if none
	Line   int         // line of its [[token]] header
}

// Module returns the module called name, or nil.
func (c *Config) Module(name string) *Module {
	for i := range c.Modules {
		if c.Modules[i].Name == name {
			return &c.Modules[i]
		}
	}
	return nil
}

// ParseOptions changes what Parse checks.
type ParseOptions struct {
	// SkipFileChecks skips checking that module paths name existing
	// regular files. Only for tests that parse an example on a machine
	// without the libraries; the broker never sets it.
	SkipFileChecks bool
	// Quick parses the config that goes with quick mode (--module): the
	// module serves every slot, so [[module]] and [[token]] have no place
	// in it, and [[client]] slots are the module's own slot IDs.
	Quick bool
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) { return ParseOptions{}.Load(path) }

// Load reads and parses the file at path, with options o.
func (o ParseOptions) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	return o.Parse(data, path)
}

// Parse parses data, read from path (used in messages).
func Parse(data []byte, path string) (*Config, error) {
	return ParseOptions{}.Parse(data, path)
}

// The file as decoded; pointers tell a missing key from an empty value.
type rawConfig struct {
	Listen        *[]string            `toml:"listen"`
	SocketMode    *string              `toml:"socket_mode"`
	LogLevel      *string              `toml:"log_level"`
	LogFormat     *string              `toml:"log_format"`
	Module        []rawModule          `toml:"module"`
	Token         []rawToken           `toml:"token"`
	Group         []rawGroup           `toml:"group"`
	Remote        []rawRemote          `toml:"remote"`
	InsecureTCP   *bool                `toml:"insecure_tcp"`
	MetricsListen *string              `toml:"metrics_listen"`
	Audit         *rawAudit            `toml:"audit"`
	TLS           *rawTLS              `toml:"tls"`
	Client        []rawClient          `toml:"client"`
	Mechanism     []wire.MechanismDecl `toml:"mechanism"`
}

type rawModule struct {
	Name        *string           `toml:"name"`
	Path        *string           `toml:"path"`
	Isolation   *string           `toml:"isolation"`
	Serialize   *bool             `toml:"serialize"`
	CallTimeout *string           `toml:"call_timeout"`
	Env         map[string]string `toml:"env"`
	MaxPINFail  *int64            `toml:"max_pin_failures"`
	MaxReal     *int64            `toml:"max_real_sessions"`
	Handoff     *bool             `toml:"handoff"`
	InitArgs    *string           `toml:"init_args"`
}

type rawToken struct {
	Name   *string `toml:"name"`
	Module *string `toml:"module"`
	URI    *string `toml:"uri"`
	Slot   *int64  `toml:"slot"`
	Pin    *string `toml:"pin"`
}

// What each key holds, for type errors; keys without their indexes.
var want = map[string]string{
	"listen":                 "an array of strings",
	"socket_mode":            `a string such as "0660"`,
	"log_level":              "a string",
	"log_format":             "a string",
	"module":                 "an array of tables, [[module]]",
	"mechanism":              "an array of tables, [[mechanism]]",
	"mechanism.type":         "an integer, such as 0x80000f11",
	"mechanism.name":         "a string",
	"mechanism.layout":       `a string such as "struct(ulong, bytes)"`,
	"module.name":            "a string",
	"module.path":            "a string",
	"module.isolation":       "a string",
	"module.serialize":       "a boolean",
	"module.call_timeout":    `a duration string such as "30s"`,
	"module.env":             "a table of strings",
	"module.init_args":       "a string",
	"token":                  "an array of tables, [[token]]",
	"token.name":             "a string",
	"group":                  "an array of tables, [[group]]",
	"group.name":             "a string",
	"group.slot":             "an integer",
	"group.members":          "an array of strings",
	"group.new_keys":         `"refuse", "replicate" or "pin"`,
	"group.replication_key":  `a string such as "label:gop11-replication"`,
	"group.replay_limit":     "an integer (bytes)",
	"group.pin":              `a string such as "file:/etc/gop11/pins/ca"`,
	"remote":                 "an array of tables, [[remote]]",
	"remote.name":            "a string",
	"remote.endpoint":        `a string such as "tls://broker-2.example.org:7011"`,
	"remote.uri":             "a string",
	"remote.tls":             "a table, [remote.tls]",
	"remote.tls.ca":          "a string",
	"remote.tls.cert":        "a string",
	"remote.tls.key":         "a string",
	"remote.tls.server_name": "a string",
	"token.module":           "a string",
	"token.uri":              "a string",
	"token.slot":             "an integer",
	"token.pin":              `a string such as "file:/etc/gop11/pins/ca"`,
	"insecure_tcp":           "a boolean",
	"metrics_listen":         `a string such as "127.0.0.1:9711"`,
	"audit":                  "a table, [audit]",
	"audit.path":             `a string such as "/var/log/gop11/audit.log"`,
	"audit.verbosity":        `"none", "key_only", "quiet", "info", "verbose" or "full"`,
	"tls":                    "a table, [tls]",
	"tls.cert":               "a string",
	"tls.key":                "a string",
	"tls.client_ca":          "a string",
	"tls.revoked_serials":    "an array of strings (hex serial numbers)",
	"client":                 "an array of tables, [[client]]",
	"client.name":            "a string",
	"client.uids":            "an array of integers",
	"client.gids":            "an array of integers",
	"client.cert_names":      "an array of strings",
	"client.slots":           "an array of integers",
	"client.objects":         "an array of strings",
	"client.mechanisms":      "an array of strings",
	"client.operations":      "an array of strings",
	"client.login":           `"client" or "broker"`,
	"client.admin":           "a boolean",
	"client.read_only":       "a boolean",
	"client.max_sessions":    "an integer",
}

// Parse parses data, read from path (used in messages), with options o.
func (o ParseOptions) Parse(data []byte, path string) (*Config, error) {
	p := &parser{file: path, idx: indexKeys(data)}
	var raw rawConfig
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	var derr *Error
	if err := dec.Decode(&raw); err != nil {
		derr = p.decodeError(err)
	}
	// The index finds what the decoder accepts and we do not ([module]
	// instead of [[module]]); report whichever comes first in the file.
	if e := p.idx.problem; e != nil && (derr == nil || e.Line <= derr.Line) {
		e.File = path
		return nil, e
	}
	if derr != nil {
		return nil, derr
	}
	c, err := p.build(&raw, o)
	if err != nil {
		return nil, err
	}
	c.Raw = data
	return c, nil
}

type parser struct {
	file string
	idx  *keyIndex
}

// errorf returns an *Error at key, on the line where key is written, or
// else on the line of the nearest enclosing key that is.
func (p *parser) errorf(key, format string, args ...any) *Error {
	return &Error{File: p.file, Line: p.idx.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

var tomlKind = regexp.MustCompile(`cannot decode TOML (\w+)`)

var article = map[string]string{
	"string": "a string", "integer": "an integer", "float": "a float", "boolean": "a boolean",
	"array": "an array", "table": "a table", "inline": "an inline table",
}

// decodeError turns a go-toml error into an *Error.
func (p *parser) decodeError(err error) *Error {
	var sme *toml.StrictMissingError
	if errors.As(err, &sme) && len(sme.Errors) > 0 {
		de := &sme.Errors[0]
		line, _ := de.Position()
		return &Error{File: p.file, Line: line, Key: p.idx.keyAt(line, de.Key()), Msg: "unknown key"}
	}
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return &Error{File: p.file, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	line, _ := de.Position()
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	if len(de.Key()) == 0 {
		return &Error{File: p.file, Line: line, Msg: "TOML syntax: " + msg}
	}
	key := p.idx.keyAt(line, de.Key())
	if m := tomlKind.FindStringSubmatch(msg); m != nil {
		got := article[m[1]]
		if got == "" {
			got = "a " + m[1]
		}
		if w, ok := want[stripIndexes(key)]; ok {
			msg = "want " + w + ", not " + got
		} else if strings.HasPrefix(stripIndexes(key), "module.env.") {
			msg = "want a string, not " + got
		}
	}
	return &Error{File: p.file, Line: line, Key: key, Msg: msg}
}

// show returns s as is if it is plain printable text, else quoted.
func show(s string) string {
	for _, r := range s {
		if !strconv.IsPrint(r) || r == ' ' || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (p *parser) build(raw *rawConfig, o ParseOptions) (*Config, error) {
	c := &Config{
		Path:       p.file,
		SocketMode: DefaultSocketMode,
		LogLevel:   DefaultLogLevel,
		LogFormat:  DefaultLogFormat,
	}
	// listen
	if raw.Listen == nil {
		return nil, p.errorf("listen", `required: one or more endpoints, e.g. ["unix:///run/gop11/gop11.sock"]`)
	}
	if len(*raw.Listen) == 0 {
		return nil, p.errorf("listen", "want one or more endpoints")
	}
	seen := map[wire.Endpoint]int{}
	for i, s := range *raw.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		ep, err := wire.ParseEndpoint(s)
		if err != nil {
			return nil, p.errorf(key, "%v", err)
		}
		if j, dup := seen[ep]; dup {
			return nil, p.errorf(key, "%q is already listed as listen[%d]", s, j)
		}
		seen[ep] = i
		c.Listen = append(c.Listen, s)
	}
	if raw.SocketMode != nil {
		s := *raw.SocketMode
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil || s == "" || s[0] == '+' || m > 0o777 {
			return nil, p.errorf("socket_mode", `%q: want an octal mode from "0000" to "0777", such as "0660"`, s)
		}
		c.SocketMode = os.FileMode(m)
	}
	if raw.LogLevel != nil {
		switch *raw.LogLevel {
		case "debug", "info", "warn", "error":
			c.LogLevel = *raw.LogLevel
		default:
			return nil, p.errorf("log_level", "%q: want debug, info, warn or error", *raw.LogLevel)
		}
	}
	if raw.LogFormat != nil {
		switch *raw.LogFormat {
		case "json", "console":
			c.LogFormat = *raw.LogFormat
		default:
			return nil, p.errorf("log_format", "%q: want json or console", *raw.LogFormat)
		}
	}
	for i, d := range raw.Mechanism {
		l, err := d.Check()
		if err != nil {
			return nil, p.errorf(fmt.Sprintf("mechanism[%d]", i), "%v", err)
		}
		if _, dup := c.Mechanisms[*d.Type]; dup {
			return nil, p.errorf(fmt.Sprintf("mechanism[%d].type", i), "%#x declared twice", *d.Type)
		}
		if c.Mechanisms == nil {
			c.Mechanisms = map[uint64]wire.VendorLayout{}
		}
		c.Mechanisms[*d.Type] = l
	}
	// modules
	if o.Quick {
		for _, k := range []struct {
			key string
			n   int
		}{{"module", len(raw.Module)}, {"token", len(raw.Token)}} {
			if k.n > 0 {
				return nil, p.errorf(k.key+"[0]", "[[%s]] is for config mode: with --module (quick mode) every slot of that module is served", k.key)
			}
		}
	} else if len(raw.Module) == 0 {
		return nil, p.errorf("module", "at least one [[module]] is required")
	}
	names := map[string]int{}
	for i, rm := range raw.Module {
		m, err := p.module(i, rm, o)
		if err != nil {
			return nil, err
		}
		key := fmt.Sprintf("module[%d].name", i)
		if j, dup := names[m.Name]; dup {
			return nil, p.errorf(key, "duplicate name %q (first at line %d)", m.Name, p.idx.lineOf(fmt.Sprintf("module[%d].name", j)))
		}
		names[m.Name] = i
		c.Modules = append(c.Modules, m)
	}
	// tokens
	slots := map[uint64]string{} // slot → the key that took it
	tokenNames := map[string]int{}
	for i, rt := range raw.Token {
		t, err := p.token(i, rt, o)
		if err != nil {
			return nil, err
		}
		if _, ok := names[t.Module]; !ok {
			return nil, p.errorf(fmt.Sprintf("token[%d].module", i), "no [[module]] is named %q", t.Module)
		}
		if t.Name != "" {
			if j, dup := tokenNames[t.Name]; dup {
				return nil, p.errorf(fmt.Sprintf("token[%d].name", i), "duplicate name %q (first at line %d)", t.Name, p.idx.lineOf(fmt.Sprintf("token[%d].name", j)))
			}
			tokenNames[t.Name] = i
		}
		if !t.NoSlot {
			if err := p.takeSlot(slots, t.Slot, fmt.Sprintf("token[%d].slot", i)); err != nil {
				return nil, err
			}
		}
		c.Tokens = append(c.Tokens, t)
	}
	if raw.InsecureTCP != nil {
		c.InsecureTCP = *raw.InsecureTCP
	}
	if raw.Audit != nil {
		a, err := p.audit(raw.Audit)
		if err != nil {
			return nil, err
		}
		c.Audit = a
	}
	if raw.MetricsListen != nil {
		if err := checkMetricsListen(*raw.MetricsListen); err != nil {
			return nil, p.errorf("metrics_listen", "%v", err)
		}
		c.MetricsListen = *raw.MetricsListen
	}
	if err := p.tls(raw.TLS, c, o); err != nil {
		return nil, err
	}
	if err := p.remotes(raw.Remote, c, tokenNames, o); err != nil {
		return nil, err
	}
	if err := p.groups(raw, c, slots, tokenNames, o); err != nil {
		return nil, err
	}
	if err := p.checkListeners(c); err != nil {
		return nil, err
	}
	if err := p.clients(raw.Client, c, o); err != nil {
		return nil, err
	}
	for i, m := range c.Modules {
		if m.Handoff && (len(c.Modules) > 1 || len(c.Groups) > 0 || len(c.Remotes) > 0) {
			return nil, p.errorf(fmt.Sprintf("module[%d].handoff", i), "needs a config whose only module this is, with no [[group]] or [[remote]]: "+
				"every connection goes to its worker")
		}
	}
	return c, nil
}

// Handoff is the module whose worker serves every connection (its
// handoff key), or nil.
func (c *Config) Handoff() *Module {
	if len(c.Modules) == 1 && c.Modules[0].Handoff {
		return &c.Modules[0]
	}
	return nil
}

func (p *parser) module(i int, rm rawModule, o ParseOptions) (Module, error) {
	k := func(s string) string { return fmt.Sprintf("module[%d].%s", i, s) }
	m := Module{
		Isolation: DefaultIsolation, MaxPINFailures: DefaultMaxPINFailures,
		CallTimeout: DefaultCallTimeout,
		Line:        p.idx.lineOf(fmt.Sprintf("module[%d]", i)),
	}
	if rm.Name == nil {
		return m, p.errorf(k("name"), "required")
	}
	if !nameRE.MatchString(*rm.Name) {
		return m, p.errorf(k("name"), "%q: want letters, digits, '_', '.' or '-'", *rm.Name)
	}
	m.Name = *rm.Name
	if rm.Path == nil {
		return m, p.errorf(k("path"), "required")
	}
	m.Path = *rm.Path
	if !filepath.IsAbs(m.Path) {
		return m, p.errorf(k("path"), "%q: want an absolute path", m.Path)
	}
	if !o.SkipFileChecks {
		fi, err := os.Stat(m.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return m, p.errorf(k("path"), "%s: no such file", show(m.Path))
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return m, p.errorf(k("path"), "%s: %v", show(m.Path), err)
		case !fi.Mode().IsRegular():
			return m, p.errorf(k("path"), "%s: not a regular file", show(m.Path))
		}
	}
	if rm.Isolation != nil {
		switch *rm.Isolation {
		case IsolationProcess, IsolationShared, IsolationInProcess:
			m.Isolation = *rm.Isolation
		default:
			return m, p.errorf(k("isolation"), "%q: want %q, %q or %q", *rm.Isolation, IsolationProcess, IsolationShared, IsolationInProcess)
		}
	}
	if rm.MaxPINFail != nil {
		if *rm.MaxPINFail < 0 || *rm.MaxPINFail > 1<<20 {
			return m, p.errorf(k("max_pin_failures"), "%d: want 0 (never) to %d", *rm.MaxPINFail, 1<<20)
		}
		m.MaxPINFailures = int(*rm.MaxPINFail)
	}
	if rm.MaxReal != nil {
		if *rm.MaxReal < 0 || *rm.MaxReal > 1<<20 {
			return m, p.errorf(k("max_real_sessions"), "%d: want 0 (no limit) to %d", *rm.MaxReal, 1<<20)
		}
		if m.Isolation == IsolationProcess && *rm.MaxReal > 0 {
			return m, p.errorf(k("max_real_sessions"), "needs isolation \"shared\" or \"inprocess\": with \"process\" each client has a module instance of its own")
		}
		m.MaxRealSessions = int(*rm.MaxReal)
	}
	if rm.Handoff != nil {
		if *rm.Handoff && m.Isolation != IsolationShared {
			return m, p.errorf(k("handoff"), "needs isolation \"shared\": the connections are handed to the module's shared worker")
		}
		m.Handoff = *rm.Handoff
	}
	if rm.Serialize != nil {
		m.Serialize = *rm.Serialize
	}
	if rm.InitArgs != nil {
		if *rm.InitArgs == "" || strings.ContainsRune(*rm.InitArgs, 0) {
			return m, p.errorf(k("init_args"), "want a non-empty string without NUL bytes (its value is not shown: it may hold a password)")
		}
		m.InitArgs = *rm.InitArgs
	}
	if rm.CallTimeout != nil {
		d, err := time.ParseDuration(*rm.CallTimeout)
		if err != nil {
			return m, p.errorf(k("call_timeout"), `%q: want a duration such as "30s" or "1m30s"`, *rm.CallTimeout)
		}
		if d <= 0 {
			return m, p.errorf(k("call_timeout"), "%q: want a duration greater than zero", *rm.CallTimeout)
		}
		m.CallTimeout = d
	}
	if rm.Env != nil {
		m.Env = make(map[string]string, len(rm.Env))
		for name, v := range rm.Env {
			if name == "" || strings.ContainsAny(name, "=\x00") {
				return m, p.errorf(k("env"), "%q: not a valid environment variable name", name)
			}
			if strings.ContainsRune(v, 0) {
				return m, p.errorf(k("env."+name), "value contains a NUL byte")
			}
			m.Env[name] = v
		}
	}
	return m, nil
}

// Path attributes that select objects, not tokens.
var objectAttrs = []string{"object", "type", "id"}

// tokenURI parses a URI that selects a token, at key.
func (p *parser) tokenURI(key, raw string) (*p11uri.URI, error) {
	// Messages never quote the URI: it could hold a PIN.
	u, err := p11uri.Parse(raw)
	if err != nil {
		return nil, p.errorf(key, "%v", err)
	}
	if _, ok := u.PIN(); ok {
		return nil, p.errorf(key, "pin-value is not allowed: PINs do not go in this file")
	}
	if len(u.Query) > 0 {
		return nil, p.errorf(key, "%s: query attributes are not allowed here, only path attributes", u)
	}
	for _, a := range objectAttrs {
		if _, ok := u.Path[a]; ok {
			return nil, p.errorf(key, "%s: attribute %q selects an object, not a token", u, a)
		}
	}
	return u, nil
}

func (p *parser) token(i int, rt rawToken, o ParseOptions) (Token, error) {
	k := func(s string) string { return fmt.Sprintf("token[%d].%s", i, s) }
	t := Token{Line: p.idx.lineOf(fmt.Sprintf("token[%d]", i))}
	if rt.Module == nil {
		return t, p.errorf(k("module"), "required")
	}
	t.Module = *rt.Module
	if rt.URI == nil {
		return t, p.errorf(k("uri"), "required")
	}
	u, err := p.tokenURI(k("uri"), *rt.URI)
	if err != nil {
		return t, err
	}
	t.URI, t.RawURI = u, *rt.URI
	if rt.Name != nil {
		if !nameRE.MatchString(*rt.Name) {
			return t, p.errorf(k("name"), "%q: want letters, digits, '_', '.' or '-'", *rt.Name)
		}
		t.Name = *rt.Name
	}
	switch {
	case rt.Slot != nil:
		if *rt.Slot < 0 || *rt.Slot > MaxSlot {
			return t, p.errorf(k("slot"), "%d: want 0 to %d", *rt.Slot, MaxSlot)
		}
		t.Slot = uint64(*rt.Slot)
	case t.Name == "":
		return t, p.errorf(k("slot"), "required (a token without a slot must have a name, for a [[group]])")
	default:
		t.NoSlot = true // checked to be a group member in groups()
	}
	if rt.Pin != nil {
		ps, err := parsePin(*rt.Pin, o)
		if err != nil {
			return t, p.errorf(k("pin"), "%v", err)
		}
		t.Pin = ps
	}
	return t, nil
}

// checkMetricsListen: metrics are plaintext HTTP, so only on a loopback
// address (a remote scraper goes through a TLS proxy or an SSH tunnel).
func checkMetricsListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, such as \"127.0.0.1:9711\"", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a port number", addr, port)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q: metrics are served over plaintext HTTP, so only on a loopback address (127.0.0.1, ::1 or localhost)", addr)
	}
	return nil
}

// Audit is [audit]: the audit log's file and verbosity.
type Audit struct {
	Path      string // an absolute path, or "-" for standard output
	Verbosity string // one of audit.Levels
}

type rawAudit struct {
	Path      *string `toml:"path"`
	Verbosity *string `toml:"verbosity"`
}

func (p *parser) audit(raw *rawAudit) (*Audit, error) {
	a := &Audit{Verbosity: "quiet"}
	if raw.Path == nil {
		return nil, p.errorf("audit.path", "required in [audit]: a file, or \"-\" for standard output")
	}
	if *raw.Path != "-" && !filepath.IsAbs(*raw.Path) {
		return nil, p.errorf("audit.path", "%s: want an absolute path, or \"-\"", show(*raw.Path))
	}
	a.Path = *raw.Path
	if raw.Verbosity != nil {
		if _, ok := audit.ParseLevel(*raw.Verbosity); !ok {
			return nil, p.errorf("audit.verbosity", "%q: want one of %s", *raw.Verbosity, strings.Join(audit.Levels, ", "))
		}
		a.Verbosity = *raw.Verbosity
	}
	return a, nil
}
