package wire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// ErrConnLost: the connection to the broker broke; calls in flight and
// sessions opened on it are gone.
var ErrConnLost = errors.New("wire: connection to the broker lost")

// Endpoint is a parsed broker address: unix:///path, tls://host:port or
// tcp://host:port.
type Endpoint struct {
	Network string // "unix", "tls" or "tcp"
	Address string // socket path or host:port
}

func (e Endpoint) String() string {
	if e.Network == "unix" {
		return "unix://" + e.Address
	}
	return e.Network + "://" + e.Address
}

// ParseEndpoint parses unix:///abs/path, tls://host:port or tcp://host:port.
func ParseEndpoint(s string) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %q: %v", s, err)
	}
	switch u.Scheme {
	case "unix":
		p := u.Path
		if u.Host != "" || !filepath.IsAbs(p) || strings.HasSuffix(p, "/") {
			return Endpoint{}, fmt.Errorf("endpoint %q: want unix:///absolute/path", s)
		}
		return Endpoint{"unix", p}, nil
	case "tcp", "tls":
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return Endpoint{}, fmt.Errorf("endpoint %q: want %s://host:port", s, u.Scheme)
		}
		return Endpoint{u.Scheme, u.Host}, nil
	}
	return Endpoint{}, fmt.Errorf("endpoint %q: scheme must be unix, tls or tcp", s)
}

// YamuxServer runs the server side of the multiplexer on conn.
func YamuxServer(conn net.Conn, log io.Writer) (*yamux.Session, error) {
	return yamux.Server(&coalescing{Conn: conn}, YamuxConfig(log))
}

// YamuxConfig is the multiplexer configuration both sides use. Its log goes
// to log, never to the default os.Stderr: in the module, stderr belongs to
// the host application.
func YamuxConfig(log io.Writer) *yamux.Config {
	if log == nil {
		log = io.Discard
	}
	c := yamux.DefaultConfig()
	c.LogOutput = log
	c.AcceptBacklog = 1024
	c.EnableKeepAlive = true
	c.KeepAliveInterval = 30 * time.Second
	c.ConnectionWriteTimeout = 30 * time.Second
	// Large windows: a 1 MiB digest should not wait for window updates.
	c.MaxStreamWindowSize = 16 << 20
	return c
}

// ClientConfig configures Dial.
type ClientConfig struct {
	DialTimeout time.Duration // connect + handshake; default 5 s
	Log         io.Writer     // yamux's log; nil discards
	Program     string        // reported in the handshake
	MaxFrame    int
	// NoLanes keeps every call on yamux streams even when the broker
	// offers lanes (for comparisons, and a way out if lanes misbehave).
	NoLanes bool
	// Lanes opens lanes for NewClient's connection when its Welcome
	// offers them; Dial sets it for unix endpoints.
	Lanes LaneDialer
	// TLS is the client's mutual TLS configuration, for tls:// endpoints
	// (ClientTLS loads one).
	TLS *tls.Config
	// Relay: the client makes calls on behalf of another process's, as
	// the broker's router does to its workers. Its requests ask the
	// serving end to follow their CPU (Codec.cpu) only while 2 to NumCPU
	// relayed calls are in flight in the process (relayedCPU). The
	// router's thread follows its own client already; a worker that
	// followed it too put a lone call's client, router thread and worker
	// on one CPU, the worker computing between two spinning threads while
	// the other CPU idled, but with two calls on two CPUs it kept each
	// call's three threads together. Config mode, ECDSA on 2 CPUs: one
	// thread 3.4k signatures/s with the CPU always said, 5.1k never said;
	// two client processes with a shared module 7.0-7.7k with this rule,
	// 5.7-6.5k never said; 4 threads and 64 processes no worse.
	Relay bool
}

// Client is one connection to a broker: a yamux session whose streams are
// kept open and reused, one per concurrent caller, so calls from many
// threads run at once without a lock around the connection.
type Client struct {
	Endpoint Endpoint
	Welcome  *Welcome
	sess     *yamux.Session
	maxFrame int
	idle     chan *stream
	lost     atomic.Bool
	closing  sync.Once

	// Lanes (lane.go): idle ones wait in idleLanes, by the CPU their last
	// call was made from; all of them are in lanes, so Close can wake a
	// call blocked on one.
	laneDial  atomic.Pointer[laneOpener] // nil: no lanes, or they failed
	idleLanes []chan *lane
	lanesMu   sync.Mutex
	lanes     map[*lane]struct{}
	laneWait  time.Duration
	relay     bool      // cfg.Relay
	log       io.Writer // cfg.Log, as yamux's: lines a person may need
}

type stream struct {
	s *yamux.Stream
	c *Codec
}

// Dial connects, shakes hands and starts the multiplexer. It gives up after
// cfg.DialTimeout: an unreachable broker must not hang the application.
func Dial(ep Endpoint, cfg ClientConfig) (*Client, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	// One deadline for connect, TLS and the Hello/Welcome together.
	deadline := time.Now().Add(cfg.DialTimeout)
	var conn net.Conn
	var err error
	if ep.Network == "tls" {
		conn, err = dialTLS(ep, cfg, deadline)
	} else {
		d := net.Dialer{Deadline: deadline}
		conn, err = d.Dial(ep.Network, ep.Address)
	}
	if err != nil {
		return nil, err
	}
	c, err := newClient(conn, ep, cfg, true, deadline)
	if err != nil {
		return nil, err
	}
	if len(c.Welcome.Lane) > 0 && !cfg.NoLanes {
		switch ep.Network {
		case "unix":
			c.laneDial.Store(unixLanes(DialUnixLane(ep.Address, c.Welcome.Lane, cfg.Program, uint64(os.Getpid()))))
		case "tls":
			c.laneDial.Store(tlsLanes(ep, cfg, c.Welcome.Lane))
		}
	}
	return c, nil
}

// NewClient runs the client side of the protocol on conn: the Hello (unless
// hello is false: a broker's worker on a socketpair gets none), the
// Welcome, then the multiplexer. On failure conn is closed.
func NewClient(conn net.Conn, ep Endpoint, cfg ClientConfig, hello bool) (*Client, error) {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	return newClient(conn, ep, cfg, hello, time.Now().Add(cfg.DialTimeout))
}

func newClient(conn net.Conn, ep Endpoint, cfg ClientConfig, hello bool, deadline time.Time) (*Client, error) {
	conn.SetDeadline(deadline)
	var w *Welcome
	var err error
	if hello {
		err = WriteMsg(conn, &Hello{Magic: Magic, Version: ProtocolVersion, Program: cfg.Program, PID: uint64(os.Getpid())})
	}
	if err == nil {
		w, err = ReadWelcome(conn)
	}
	if err != nil {
		conn.Close()
		if w != nil && w.Error != "" {
			return nil, fmt.Errorf("%w: %s", ErrRefused, w.Error)
		}
		_, afterTLS := conn.(*tls.Conn)
		if r := refusal(err, afterTLS); r != nil {
			return nil, r
		}
		return nil, fmt.Errorf("handshake: %w", err)
	}
	conn.SetDeadline(time.Time{})
	sess, err := yamux.Client(&coalescing{Conn: conn}, YamuxConfig(cfg.Log))
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &Client{Endpoint: ep, Welcome: w, sess: sess, maxFrame: cfg.MaxFrame, idle: make(chan *stream, 256),
		idleLanes: make([]chan *lane, max(1, runtime.NumCPU())), lanes: map[*lane]struct{}{}, laneWait: cfg.DialTimeout, relay: cfg.Relay, log: cfg.Log}
	if c.log == nil {
		c.log = io.Discard
	}
	for i := range c.idleLanes {
		c.idleLanes[i] = make(chan *lane, 256)
	}
	if cfg.Lanes != nil && len(w.Lane) > 0 && !cfg.NoLanes {
		c.laneDial.Store(unixLanes(cfg.Lanes))
	}
	return c, nil
}

// Caller makes calls: a *Client, or anything standing in for one.
type Caller interface {
	Call(id CallID, req, resp Message) error
}

// Remote is a Backend that forwards every call over c: a broker's member
// worker in another process, or another broker.
func Remote(c Caller) Backend {
	return BackendFunc(func(_ context.Context, id CallID, req Message) (Message, error) {
		resp := Calls[id].NewResponse()
		if err := c.Call(id, req, resp); err != nil {
			return nil, err
		}
		return resp, nil
	})
}

// Lost reports whether the connection broke or was closed.
func (c *Client) Lost() bool { return c.lost.Load() || c.sess.IsClosed() }

// Close ends the connection; the broker frees everything it held for it.
func (c *Client) Close() error {
	c.lost.Store(true)
	var err error
	c.closing.Do(func() {
		err = c.sess.Close()
		c.lanesMu.Lock()
		for l := range c.lanes {
			l.conn.Shutdown() // a call blocked on it returns ErrConnLost
		}
		c.lanesMu.Unlock()
		c.drainLanes()
	})
	return err
}

// UsesLanes reports whether calls go over lanes.
func (c *Client) UsesLanes() bool { return c.laneDial.Load() != nil }

// getLane takes an idle lane whose last call came from the caller's CPU
// if there is one (its serving thread is on that CPU already: lane.go,
// CPUFollower), else any idle lane, else a new one. A pool taken in turn
// moved the serving threads between CPUs: in config mode, where the
// broker's router shares its member lanes among its own lanes, 5.5k
// sched_setaffinity calls and as many migrations a second for 16k
// signatures/s at 4 threads.
// The CPU found here is also the one the call's request says it comes
// from (Codec.cpu): one getcpu(2) per call.
func (c *Client) getLane() *lane {
	cpu, ok := currentCPU()
	if !ok {
		cpu = -1
	}
	n := len(c.idleLanes)
	for i := range n {
		select {
		case l := <-c.idleLanes[(max(cpu, 0)+i)%n]:
			c.onCPU(l, cpu)
			return l
		default:
		}
	}
	d := c.laneDial.Load()
	if d == nil {
		return nil
	}
	l, err := (*d)(c.laneWait, c.maxFrame)
	if err != nil {
		// The server would not take a lane: every call goes over yamux
		// from now on, which works, only slower.
		if c.laneDial.CompareAndSwap(d, nil) {
			fmt.Fprintf(c.log, "[WARN] gop11: no lane to %s (%v): calls go over yamux streams from now on, slower\n", c.Endpoint, err)
		}
		return nil
	}
	c.onCPU(l, cpu)
	c.lanesMu.Lock()
	c.lanes[l] = struct{}{}
	c.lanesMu.Unlock()
	return l
}

// onCPU records the CPU a lane's call is made from: its idle pool after
// the call, and what the request says (Call may say otherwise: Relay).
func (c *Client) onCPU(l *lane, cpu int) {
	l.cpu, l.codec.cpu = cpu, cpu
}

// relayed counts the calls relaying clients have in flight in this process.
var relayed atomic.Int64

// relayedCPU is the CPU a relayed call's request says when inflight
// relayed calls (this one included) are in flight: the caller's, or -1
// (see ClientConfig.Relay).
func relayedCPU(inflight int64, cpu int) int {
	if inflight >= 2 && inflight <= int64(runtime.NumCPU()) {
		return cpu
	}
	return -1
}

func (c *Client) putLane(l *lane) {
	select {
	case c.idleLanes[max(l.cpu, 0)%len(c.idleLanes)] <- l:
	default:
		c.dropLane(l)
	}
	if c.lost.Load() {
		// Close may have drained the pool just before l went in.
		c.drainLanes()
	}
}

func (c *Client) drainLanes() {
	for _, idle := range c.idleLanes {
		for drained := false; !drained; {
			select {
			case l := <-idle:
				c.dropLane(l)
			default:
				drained = true
			}
		}
	}
}

func (c *Client) dropLane(l *lane) {
	c.lanesMu.Lock()
	delete(c.lanes, l)
	c.lanesMu.Unlock()
	l.conn.Close()
}

func (c *Client) get() (*stream, error) {
	select {
	case s := <-c.idle:
		return s, nil
	default:
	}
	s, err := c.sess.OpenStream()
	if err != nil {
		return nil, err
	}
	return &stream{s: s, c: NewCodec(s, c.maxFrame)}, nil
}

func (c *Client) put(s *stream) {
	select {
	case c.idle <- s:
	default:
		s.s.Close()
	}
}

// Call sends req as call id and decodes the answer into resp. It returns nil,
// an RV (the backend's CK_RV), ErrConnLost, or an ErrMalformed-wrapped
// error for a reply that does not decode.
func (c *Client) Call(id CallID, req, resp Message) error {
	if c.Lost() {
		return ErrConnLost
	}
	if l := c.getLane(); l != nil {
		if c.relay {
			l.codec.cpu = relayedCPU(relayed.Add(1), l.cpu)
			defer relayed.Add(-1)
		}
		err := c.exchange(l.codec, id, req, resp)
		if err == nil || isRV(err) {
			c.putLane(l)
		} else {
			c.dropLane(l)
		}
		return err
	}
	s, err := c.get()
	if err != nil {
		c.Close()
		return fmt.Errorf("%w: %v", ErrConnLost, err)
	}
	err = c.exchange(s.c, id, req, resp)
	if err == nil || isRV(err) {
		c.put(s)
	} else {
		s.s.Close()
	}
	return err
}

func isRV(err error) bool {
	var rv RV
	return errors.As(err, &rv)
}

// exchange makes one call on a stream or lane. A request too large to send
// leaves the stream in step and the connection up; any other failure ends
// the connection.
func (c *Client) exchange(codec *Codec, id CallID, req, resp Message) error {
	if err := codec.WriteRequest(id, req); err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			return err
		}
		c.Close()
		return fmt.Errorf("%w: %v", ErrConnLost, err)
	}
	err := codec.ReadResponse(resp)
	codec.ReleaseLarge() // a reply is decoded into copies
	if ScrubPINs(req) {
		codec.Scrub()
	}
	var rv RV
	switch {
	case err == nil, errors.As(err, &rv):
		return err
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrFrameTooLarge):
		// A reply that cannot be read: the stream is out of step and the
		// connection is not to be trusted. (ErrFrameTooLarge alone means
		// our request was too large, and is returned above.)
		c.Close()
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: reply: %v", ErrMalformed, err)
		}
		return err
	default:
		c.Close()
		return fmt.Errorf("%w: %v", ErrConnLost, err)
	}
}
