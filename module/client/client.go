package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/gop11/gop11/wire"
)

// ErrUnreachable: no broker answered at the configured endpoint.
var ErrUnreachable = errors.New("broker unreachable")

// refused is the broker's no (wire.ErrRefused). It is ErrUnreachable to
// callers, there being no connection, but its message is the broker's
// reason alone, not "unreachable".
type refused struct{ error }

func (refused) Is(target error) bool { return target == ErrUnreachable }
func (r refused) Unwrap() error      { return r.error }

// Client is the module's connection to its broker and the application's
// sessions on it. One per C_Initialize.
type Client struct {
	cfg       Config
	endpoints []wire.Endpoint // in order of preference
	log       io.Writer

	mu       sync.Mutex // serializes reconnecting, nothing else
	conn     atomic.Pointer[wire.Client]
	at       atomic.Int32 // the endpoint conn reaches
	closed   atomic.Bool
	sessions sync.Map  // uint64 → *Session
	fo       *failover // with several endpoints; nil with one
}

// New prepares a client; Connect makes the first connection.
func New(cfg Config, log io.Writer) *Client {
	eps, _ := cfg.Endpoints()      // checked by LoadConfig
	wire.SetLaneSpin(cfg.LaneSpin) // process-wide, like the config
	c := &Client{cfg: cfg, endpoints: eps, log: log}
	if len(eps) > 1 {
		c.fo = newFailover(log)
	}
	return c
}

// Endpoint is where the broker is expected: the endpoint connected to,
// or else the first.
func (c *Client) Endpoint() string { return c.endpoints[c.at.Load()].String() }

// Connect dials the broker (bounded by the dial timeout).
func (c *Client) Connect() error {
	_, err := c.current()
	return err
}

// current returns a live connection, dialling a new one if the old one
// was lost: the first endpoint, in the configured order, that answers.
// Without failover, sessions of a lost connection stay lost.
func (c *Client) current() (*wire.Client, error) {
	if w := c.conn.Load(); w != nil && !w.Lost() {
		return w, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.conn.Load(); w != nil && !w.Lost() {
		return w, nil
	}
	if c.closed.Load() {
		return nil, wire.ErrConnLost
	}
	var first error
	for i, ep := range c.endpoints {
		w, err := c.dial(ep)
		if err == nil {
			c.at.Store(int32(i))
			c.conn.Store(w)
			return w, nil
		}
		if first == nil {
			first = err
		}
		if c.fo != nil {
			c.fo.log.Warn().Str("broker", ep.String()).Err(err).Msg("broker unreachable: trying the next")
		}
	}
	return nil, first
}

func (c *Client) dial(ep wire.Endpoint) (*wire.Client, error) {
	wc := wire.ClientConfig{
		DialTimeout: c.cfg.DialTimeout,
		Log:         c.log,
		Program:     filepath.Base(os.Args[0]),
	}
	if ep.Network == "tls" {
		// Read at every dial: a certificate renewed on disk is used at
		// the next connection.
		t := c.cfg.TLS
		tc, err := wire.ClientTLS(t.CA, t.Cert, t.Key, t.ServerName)
		if err != nil {
			return nil, fmt.Errorf("%w at %s: [tls] of %s: %v", ErrUnreachable, ep, c.cfg.File, err)
		}
		wc.TLS = tc
	}
	w, err := wire.Dial(ep, wc)
	switch {
	case errors.Is(err, wire.ErrRefused):
		return nil, refused{err}
	case err != nil:
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, ep, err)
	}
	return w, nil
}

// Close ends the connection; the broker frees the sessions.
func (c *Client) Close() {
	c.closed.Store(true)
	if w := c.conn.Load(); w != nil {
		w.Close()
	}
	c.sessions.Range(func(k, _ any) bool { c.sessions.Delete(k); return true })
	if c.fo != nil {
		c.fo.close()
	}
}

// Call makes a call that is not bound to a session, reconnecting first if
// the connection was lost.
func (c *Client) Call(id wire.CallID, req, resp wire.Message) error {
	if c.fo != nil {
		return c.callAnywhere(id, req, resp)
	}
	w, err := c.current()
	if err != nil {
		return err
	}
	return w.Call(id, req, resp)
}

// CallOn makes a call on session s, on the connection s was opened on.
func (c *Client) CallOn(s *Session, id wire.CallID, req, resp wire.Message) error {
	if c.fo != nil {
		return c.callRestoring(s, id, req, resp)
	}
	err := s.conn.Call(id, req, resp)
	if errors.Is(err, wire.ErrConnLost) {
		c.sessions.Delete(s.Handle)
	}
	return err
}

// Session returns the live session h, or nil: unknown, closed, or opened
// on a connection that has since been lost (the broker restarted), unless
// the client fails over and restores it.
func (c *Client) Session(h uint64) *Session {
	v, ok := c.sessions.Load(h)
	if !ok {
		return nil
	}
	s := v.(*Session)
	if c.fo == nil && s.conn.Lost() {
		c.sessions.Delete(h)
		return nil
	}
	return s
}

// AddSession records a session the broker opened on the current
// connection, and returns the handle the application gets for it: the
// broker's, unless (after a failover) it is already taken.
func (c *Client) AddSession(h, slot, flags uint64) uint64 {
	w := c.conn.Load()
	if w == nil {
		return h
	}
	s := &Session{Handle: h, Slot: slot, conn: w, real: h, flags: flags}
	if c.fo == nil {
		c.sessions.Store(h, s)
		return h
	}
	for {
		if _, taken := c.sessions.LoadOrStore(s.Handle, s); !taken {
			return s.Handle
		}
		s.Handle = newHandle()
	}
}

// DropSession forgets session h.
func (c *Client) DropSession(h uint64) {
	v, ok := c.sessions.LoadAndDelete(h)
	if ok && c.fo != nil {
		c.fo.sessionGone(c, v.(*Session).Slot)
	}
}

// DropSlot forgets every session of slot (C_CloseAllSessions).
func (c *Client) DropSlot(slot uint64) {
	c.sessions.Range(func(k, v any) bool {
		if v.(*Session).Slot == slot {
			c.sessions.Delete(k)
		}
		return true
	})
	if c.fo != nil {
		c.fo.sessionGone(c, slot)
	}
}
