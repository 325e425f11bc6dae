// Package audit writes the broker's audit log ([audit] in broker.toml):
// one JSON line per event, at a verbosity named like Kryptus kNET's
// log_verbosity. It wraps each connection's wire.Backend outside the
// access policy, so a line says what the client was answered; keys are
// named by their label and ID, read once per handle through the same
// connection. A PIN never reaches the log.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Level is how much is logged; each level logs what the one before does.
type Level int

const (
	None    Level = iota // nothing
	KeyOnly              // key lifecycle and key use, and failed calls on keys
	Quiet                // + connections, logins and logouts, policy denials, every failed call (the default)
	Info                 // + every call but C_GetTokenInfo
	Verbose              // + each call's brief arguments: mechanism, keys by label, lengths
	Full                 // + every call, and data as lengths and SHA-256 prefixes
)

// Levels are the verbosity names, in order.
var Levels = []string{"none", "key_only", "quiet", "info", "verbose", "full"}

// ParseLevel reads a verbosity name.
func ParseLevel(s string) (Level, bool) {
	for i, n := range Levels {
		if n == s {
			return Level(i), true
		}
	}
	return None, false
}

// Log is the audit log file.
type Log struct {
	path  string
	level Level
	mu    sync.Mutex
	f     *os.File
	zl    zerolog.Logger
}

// Open opens (appends to) the audit log at path; "-" is standard output.
func Open(path string, level Level) (*Log, error) {
	l := &Log{path: path, level: level}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// Reopen opens the file at the path again (SIGHUP, after logrotate moved
// it).
func (l *Log) Reopen() error {
	var w io.Writer = os.Stdout
	var f *os.File
	if l.path != "-" {
		var err error
		if f, err = os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		w = f
	}
	l.mu.Lock()
	old := l.f
	l.f, l.zl = f, zerolog.New(w).With().Timestamp().Logger()
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file; on a nil *Log (no [audit]) it does nothing.
func (l *Log) Close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

func (l *Log) event(level Level) *zerolog.Event {
	if l == nil || l.level < level {
		return nil
	}
	l.mu.Lock()
	zl := l.zl
	l.mu.Unlock()
	return zl.Log()
}

// Conn is one connection's audit: its identity and the keys it named.
type Conn struct {
	l        *Log
	identity string
	client   string // its [[client]], "" without access control
	mu       sync.Mutex
	keys     map[uint64]*keyInfo // by the connection's object handle
	ops      map[uint64]*keyInfo // per session: the key of the operation under way
}

type keyInfo struct {
	class, keyType uint64
	label, id      string
}

// Conn starts auditing a connection: its connect line (Quiet).
func (l *Log) Conn(identity, client, endpoint string) *Conn {
	if l == nil || l.level == None {
		return nil
	}
	c := &Conn{l: l, identity: identity, client: client, keys: map[uint64]*keyInfo{}, ops: map[uint64]*keyInfo{}}
	if e := l.event(Quiet); e != nil {
		e.Str("event", "connect").Str("identity", identity).Str("client", client).Str("endpoint", endpoint).Send()
	}
	return c
}

// Close is the connection's disconnect line.
func (c *Conn) Close(connected time.Duration) {
	if c == nil {
		return
	}
	if e := c.l.event(Quiet); e != nil {
		e.Str("event", "disconnect").Str("identity", c.identity).Dur("connected_for", connected).Send()
	}
}

// Denied is a call the policy denied (Quiet).
func (c *Conn) Denied(client string, id wire.CallID) {
	if c == nil {
		return
	}
	if e := c.l.event(Quiet); e != nil {
		e.Str("event", "denied").Str("identity", c.identity).Str("client", client).Str("call", id.String()).Send()
	}
}

// What a call is, for the levels.
type kind int

const (
	plain     kind = iota // any other call
	lifecycle             // makes or destroys an object
	keyUse                // an operation with a key, or its continuation
	auth                  // C_Login, C_LoginUser, C_Logout
)

func kindOf(id wire.CallID) kind {
	switch id {
	case wire.CallGenerateKey, wire.CallGenerateKeyPair, wire.CallCreateObject, wire.CallCopyObject,
		wire.CallUnwrapKey, wire.CallDeriveKey, wire.CallDestroyObject:
		return lifecycle
	case wire.CallLogin, wire.CallLoginUser, wire.CallLogout:
		return auth
	}
	if d := wire.Lookup(id); d != nil && d.Family != "" && d.Family != "FindObjects" {
		return keyUse
	}
	return plain
}

// Wrap audits every call next answers.
func (c *Conn) Wrap(next wire.BackendFunc) wire.BackendFunc {
	if c == nil {
		return next
	}
	return func(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
		k := kindOf(id)
		level := c.l.level
		// A key used or destroyed is read before the call (after a
		// destroy it is gone).
		var key *keyInfo
		if level >= Verbose || k == keyUse || k == lifecycle {
			key = c.keyOf(ctx, next, id, req)
		}
		// The layers below may rewrite the request's handles: its
		// session is read now, and its arguments for verbose levels.
		ses := sessionOf(req)
		var args func(*zerolog.Event) *zerolog.Event
		if level >= Verbose {
			args = brief(req, level)
		}
		start := time.Now()
		resp, err := next(ctx, id, req)
		took := time.Since(start)
		c.record(ctx, next, id, ses, req, resp, err, k, key, took, args)
		return resp, err
	}
}

func (c *Conn) record(ctx context.Context, next wire.BackendFunc, id wire.CallID, ses uint64, req, resp wire.Message, err error,
	k kind, key *keyInfo, took time.Duration, args func(*zerolog.Event) *zerolog.Event) {
	need := needed(k, id, err, k == keyUse && key != nil && secretOrPrivate(key), key != nil)
	if k == keyUse && need == KeyOnly && err == nil && wire.StepOf(id) == wire.OpUpdate && c.l.level < Info {
		return // a key's use is its Init and its last call
	}
	e := c.l.event(need)
	if e == nil {
		return
	}
	rv := "CKR_OK"
	if err != nil {
		rv = rvName(err)
	}
	e = e.Str("event", eventName(k)).Str("call", id.String()).Str("identity", c.identity).Str("rv", rv).Dur("took", took)
	if c.client != "" {
		e = e.Str("client", c.client)
	}
	if key != nil {
		e = e.Str("key_label", key.label).Str("key_id", hex.EncodeToString([]byte(key.id))).Str("key_type", wire.KeyTypeName(key.keyType))
	}
	if m := wire.MechanismOf(req); m != nil && (k != plain || c.l.level >= Verbose) {
		e = e.Str("mechanism", wire.MechanismName(m.Type))
	}
	if k == auth {
		e = loginUser(e, req)
	}
	if k == lifecycle && err == nil {
		// The new objects, named as the module holds them now.
		var made []string
		resp.Handles(func(hk wire.HandleKind, p *uint64) {
			if hk == wire.HObject && *p != 0 {
				if ki := c.read(ctx, next, ses, *p); ki != nil {
					made = append(made, ki.label+"/"+hex.EncodeToString([]byte(ki.id))+"/"+wire.KeyTypeName(ki.keyType))
				}
			}
		})
		if len(made) > 0 {
			e = e.Strs("made", made)
		}
	}
	if args != nil {
		e = args(e)
	}
	e.Send()
}

// needed is the level that logs a call: key lifecycle and a key's use
// (usesKey) from KeyOnly, and a failed call on a key (onKey) too; other
// failures and logins from Quiet; C_GetTokenInfo, which applications
// poll, only at Full; the rest from Info.
func needed(k kind, id wire.CallID, err error, usesKey, onKey bool) Level {
	switch {
	case k == lifecycle, usesKey, err != nil && onKey:
		return KeyOnly
	case err != nil, k == auth:
		return Quiet
	case id == wire.CallGetTokenInfo:
		return Full
	}
	return Info
}

func eventName(k kind) string {
	switch k {
	case lifecycle:
		return "key_lifecycle"
	case keyUse:
		return "key_use"
	case auth:
		return "login"
	}
	return "call"
}

func userName(t uint64) string {
	switch t {
	case wire.CKU_SO:
		return "so"
	case wire.CKU_USER:
		return "user"
	case wire.CKU_CONTEXT_SPECIFIC:
		return "context_specific"
	}
	return fmt.Sprintf("0x%x", t)
}

func secretOrPrivate(k *keyInfo) bool {
	return k.class == wire.CKO_PRIVATE_KEY || k.class == wire.CKO_SECRET_KEY
}

func rvName(err error) string {
	if rv, ok := err.(wire.RV); ok {
		return rv.String()
	}
	return "error"
}

// keyOf is the key a call uses: its key handle, or, for the calls of an
// operation after its Init, the Init's key.
func (c *Conn) keyOf(ctx context.Context, next wire.BackendFunc, id wire.CallID, req wire.Message) *keyInfo {
	ses := sessionOf(req)
	var obj uint64
	req.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HObject && obj == 0 {
			obj = *p
		}
	})
	if obj != 0 {
		ki := c.read(ctx, next, ses, obj)
		if wire.StepOf(id) == wire.OpInit {
			c.mu.Lock()
			c.ops[ses] = ki
			c.mu.Unlock()
		}
		return ki
	}
	if kindOf(id) == keyUse {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.ops[ses]
	}
	return nil
}

// read is what the connection's object h is, read once through next.
func (c *Conn) read(ctx context.Context, next wire.BackendFunc, ses, h uint64) *keyInfo {
	c.mu.Lock()
	ki, ok := c.keys[h]
	c.mu.Unlock()
	if ok {
		return ki
	}
	resp, err := next(ctx, wire.CallGetAttributeValue, &wire.GetAttributeValueRequest{Session: ses, Object: h,
		Types: []uint64{wire.CKA_CLASS, wire.CKA_KEY_TYPE, wire.CKA_LABEL, wire.CKA_ID}})
	if err != nil {
		return nil
	}
	ki = &keyInfo{keyType: ^uint64(0)}
	for _, r := range resp.(*wire.GetAttributeValueResponse).Values {
		if r.RV != wire.CKR_OK {
			continue
		}
		switch r.Attr.Type {
		case wire.CKA_CLASS:
			ki.class = r.Attr.ULong
		case wire.CKA_KEY_TYPE:
			ki.keyType = r.Attr.ULong
		case wire.CKA_LABEL:
			ki.label = string(r.Attr.Bytes)
		case wire.CKA_ID:
			ki.id = string(r.Attr.Bytes)
		}
	}
	c.mu.Lock()
	c.keys[h] = ki
	c.mu.Unlock()
	return ki
}

func sessionOf(req wire.Message) uint64 {
	var s uint64
	req.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HSession && s == 0 {
			s = *p
		}
	})
	return s
}

// loginUser adds who a login is for: the user type, and C_LoginUser's
// user name; never the PIN.
func loginUser(e *zerolog.Event, req wire.Message) *zerolog.Event {
	switch q := req.(type) {
	case *wire.LoginRequest:
		return e.Str("user", userName(q.UserType))
	case *wire.LoginUserRequest:
		return e.Str("user", userName(q.UserType)).Str("username", string(q.Username))
	}
	return e
}

// brief adds a call's arguments: lengths of its byte strings, and at Full
// the first bytes of their SHA-256. PINs are never among them.
func brief(req wire.Message, level Level) func(*zerolog.Event) *zerolog.Event {
	type field struct {
		name string
		n    int
		sum  string
	}
	var fs []field
	v := reflect.ValueOf(req).Elem()
	for i := 0; i < v.NumField(); i++ {
		f, t := v.Field(i), v.Type().Field(i)
		if f.Type() == pinType || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Uint8 {
			continue
		}
		fd := field{name: strings.ToLower(t.Name), n: f.Len()}
		if level >= Full {
			sum := sha256.Sum256(f.Bytes())
			fd.sum = hex.EncodeToString(sum[:8])
		}
		fs = append(fs, fd)
	}
	return func(e *zerolog.Event) *zerolog.Event {
		for _, f := range fs {
			e = e.Int(f.name+"_len", f.n)
			if f.sum != "" {
				e = e.Str(f.name+"_sha256", f.sum)
			}
		}
		return e
	}
}

var pinType = reflect.TypeOf(wire.PIN(nil))

// Client is the client module's own log of its calls (client.toml
// log_verbosity): the levels above, in the module's log file. The module
// does not read keys' labels: a key is its handle.
type Client struct {
	zl    zerolog.Logger
	level Level
}

// NewClient logs to w at level; nil when there is nothing to log.
func NewClient(w io.Writer, level Level) *Client {
	if w == nil || w == io.Discard || level == None {
		return nil
	}
	return &Client{zl: zerolog.New(w).With().Timestamp().Int("pid", os.Getpid()).Logger(), level: level}
}

// Args reads a request's arguments for the verbose levels, before the
// call (the layers below may change the request); nil below Verbose.
func (c *Client) Args(req wire.Message) func(*zerolog.Event) *zerolog.Event {
	if c == nil || c.level < Verbose {
		return nil
	}
	return brief(req, c.level)
}

// Call logs one answered call, as its level says.
func (c *Client) Call(id wire.CallID, req wire.Message, err error, took time.Duration, args func(*zerolog.Event) *zerolog.Event) {
	if c == nil {
		return
	}
	k := kindOf(id)
	if c.level < needed(k, id, err, k == keyUse && wire.StepOf(id) != wire.OpUpdate, k == lifecycle || k == keyUse) {
		return
	}
	rv := "CKR_OK"
	if err != nil {
		rv = rvName(err)
	}
	e := c.zl.Log().Str("event", eventName(k)).Str("call", id.String()).Str("rv", rv).Dur("took", took)
	var key uint64
	req.Handles(func(hk wire.HandleKind, p *uint64) {
		if hk == wire.HObject && key == 0 {
			key = *p
		}
	})
	if key != 0 {
		e = e.Uint64("object", key)
	}
	if m := wire.MechanismOf(req); m != nil {
		e = e.Str("mechanism", wire.MechanismName(m.Type))
	}
	e = loginUser(e, req)
	if args != nil {
		e = args(e)
	}
	e.Send()
}
