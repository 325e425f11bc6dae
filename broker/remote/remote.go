// Package remote reaches a token served by another gop11 broker: a
// [[remote]] member of a [[group]]. This broker is that broker's client,
// over mutual TLS (or a unix socket), and each connection to this broker
// gets its own Link, so that the remote broker keeps each application's
// login and sessions apart as it would for the application itself.
package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/broker/ha"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// DialTimeout bounds connect, TLS and handshake with a remote broker.
const DialTimeout = 5 * time.Second

// Target is one [[remote]]: the broker to dial and the token to use there.
type Target struct {
	cfg config.Remote
	log zerolog.Logger
}

// New makes the target of a [[remote]].
func New(cfg config.Remote, log zerolog.Logger) *Target {
	return &Target{cfg: cfg, log: log.With().Str("remote", cfg.Name).Str("endpoint", cfg.Endpoint.String()).Logger()}
}

// Config is the [[remote]] the target was made from.
func (t *Target) Config() config.Remote { return t.cfg }

// incs numbers connections to remote brokers: a Link's incarnation, so
// that handles from a lost connection are never used on the next one.
var incs atomic.Uint64

// Link is one client connection's way to the remote token: a connection
// of its own to the remote broker, dialled at first use and again after
// it is lost. It is an ha.Member.
type Link struct {
	t      *Target
	mu     sync.Mutex
	w      *wire.Client
	inc    uint64
	slot   uint64 // the token's slot ID on the remote broker, found at each dial
	closed bool
}

// Link makes a link for one client connection; Close ends it.
func (t *Target) Link() *Link { return &Link{t: t} }

// Slot is a placeholder: the remote's slot ID is found when the link
// dials, and Call puts it in every request.
func (l *Link) Slot() uint64 { return 0 }

// Call runs one call on the remote token. inc 0: on the current
// connection, dialled if need be; otherwise only on connection inc.
func (l *Link) Call(ctx context.Context, inc uint64, id wire.CallID, req wire.Message) (wire.Message, uint64, error) {
	w, cur, slot, err := l.conn(inc)
	if err != nil {
		return nil, 0, err
	}
	req.Handles(func(k wire.HandleKind, p *uint64) {
		if k == wire.HSlot {
			*p = slot
		}
	})
	resp := wire.Lookup(id).NewResponse()
	if err := w.Call(id, req, resp); err != nil {
		var rv wire.RV
		if errors.As(err, &rv) {
			if ha.Failed(rv) {
				// The remote token failed (its worker died, say): its
				// sessions are gone, so the next use is a new incarnation.
				l.drop(w)
			}
			return nil, cur, rv
		}
		l.drop(w)
		return nil, 0, fmt.Errorf("%w: remote %s: %v", ha.ErrDown, l.t.cfg.Name, err)
	}
	return resp, cur, nil
}

// conn returns the live connection (dialling one for inc 0), its
// incarnation and the token's slot there.
func (l *Link) conn(inc uint64) (*wire.Client, uint64, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil && l.w.Lost() {
		l.w.Close()
		l.w = nil
	}
	switch {
	case l.closed:
		return nil, 0, 0, fmt.Errorf("%w: remote %s: link closed", ha.ErrDown, l.t.cfg.Name)
	case inc != 0 && (l.w == nil || inc != l.inc):
		return nil, 0, 0, fmt.Errorf("%w: remote %s: the connection these handles belong to was lost", ha.ErrStale, l.t.cfg.Name)
	case l.w == nil:
		w, slot, err := l.t.dial()
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%w: remote %s: %v", ha.ErrDown, l.t.cfg.Name, err)
		}
		l.w, l.inc, l.slot = w, incs.Add(1), slot
	}
	return l.w, l.inc, l.slot, nil
}

// drop forgets connection w after a failure other than a PKCS #11 error.
func (l *Link) drop(w *wire.Client) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == w {
		l.w = nil
	}
	w.Close()
}

// Close ends the link's connection: the remote broker frees its
// sessions and logs it out.
func (l *Link) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.w != nil {
		l.w.Close()
		l.w = nil
	}
}

// Check is the group's health check: a fresh connection finds the token
// and reads its info.
func (t *Target) Check(ctx context.Context) error {
	l := t.Link()
	defer l.Close()
	_, _, err := l.Call(ctx, 0, wire.CallGetTokenInfo, &wire.GetTokenInfoRequest{})
	return err
}

// dial connects to the remote broker and finds the token there.
func (t *Target) dial() (*wire.Client, uint64, error) {
	cfg := wire.ClientConfig{DialTimeout: DialTimeout, Program: "gop11-broker", Relay: true}
	if tc := t.cfg.TLS; tc != nil {
		// Read at every dial: certificates renewed on disk are used at
		// the next connection.
		c, err := wire.ClientTLS(tc.CA, tc.Cert, tc.Key, tc.ServerName)
		if err != nil {
			return nil, 0, err
		}
		cfg.TLS = c
	}
	w, err := wire.Dial(t.cfg.Endpoint, cfg)
	if err != nil {
		return nil, 0, err
	}
	slot, err := t.find(w)
	if err != nil {
		w.Close()
		return nil, 0, err
	}
	return w, slot, nil
}

// find is the slot of the first token the remote broker shows that
// matches the [[remote]]'s URI.
func (t *Target) find(w *wire.Client) (uint64, error) {
	var info wire.GetInfoResponse
	if err := w.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &info); err != nil {
		return 0, fmt.Errorf("C_GetInfo: %w", err)
	}
	var list wire.GetSlotListResponse
	if err := w.Call(wire.CallGetSlotList, &wire.GetSlotListRequest{TokenPresent: true}, &list); err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	for _, s := range list.SlotList {
		var si wire.GetSlotInfoResponse
		var ti wire.GetTokenInfoResponse
		if w.Call(wire.CallGetSlotInfo, &wire.GetSlotInfoRequest{SlotID: s}, &si) != nil ||
			w.Call(wire.CallGetTokenInfo, &wire.GetTokenInfoRequest{SlotID: s}, &ti) != nil {
			continue // gone since the list
		}
		if t.cfg.URI.MatchSlotInfo(s, info.Info, si.Info, ti.Info) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("no token among its %d slots matches the [[remote]]'s uri", len(list.SlotList))
}
