// Package broker serves gop11 clients: listeners, the handshake, one
// worker process per client connection, and the per-connection call loop
// with its virtual handles. It is pure Go; the vendor module is reached
// only through a wire.Backend.
//
// Concurrency: each connection is a yamux session; each stream is served
// by its own goroutine, one call at a time, so calls from different
// application threads run in parallel. The only lock a call takes is its
// own connection's handle map, held for map lookups only.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/hashicorp/yamux"
	"github.com/rs/zerolog"
)

// ServeConfig configures ServeConn.
type ServeConfig struct {
	Backend wire.Backend
	// Admin, if set, answers wire.CallAdmin (gop11 status): JSON, or an
	// error the client gets as CKR_FUNCTION_FAILED.
	Admin    func(ctx context.Context, command string) ([]byte, error)
	Log      zerolog.Logger
	MaxFrame int
	// Stop, when closed, ends the connection once the calls in flight have
	// finished, or after Grace at the latest (SIGTERM).
	Stop  <-chan struct{}
	Grace time.Duration
	// Lanes brings the connection's lanes (wire/lane.go): connected
	// sockets, as file descriptors, whose Hello is done. Each gets a
	// Welcome and is served by its own goroutine until it or the
	// connection ends.
	Lanes <-chan int
	// TLSLanes brings a tls:// connection's lanes: TLS connections whose
	// Hello is done, served the same way.
	TLSLanes <-chan *wire.TLSLane
	// CallTimeout, when set, bounds each call but C_WaitForSlotEvent;
	// OnHang is then called with the call's name when one runs over (a
	// quick-mode worker logs it and exits, ending its client's calls).
	CallTimeout time.Duration
	OnHang      func(call string)
	// MaxLanes bounds the connection's lanes, and MaxLanesTotal the lanes
	// of every connection this process serves (0: no bound). A lane holds
	// an OS thread; a lane over a bound is refused with its reason, and
	// the client's calls beyond its lanes go over yamux.
	MaxLanes, MaxLanesTotal int
	Version                 string // the broker build, in a lane's Welcome
}

// ServeConn serves one client connection whose handshake is done, until
// the client goes away or the connection breaks. On return it has closed
// the sessions the client left open, so their session objects and active
// operations are freed.
func ServeConn(ctx context.Context, conn net.Conn, cfg ServeConfig) error {
	sess, err := wire.YamuxServer(conn, zerologWriter{cfg.Log})
	if err != nil {
		conn.Close()
		return err
	}
	// Calls get a context that ends with the connection, or at Stop: a
	// call that waits (C_WaitForSlotEvent in a router) returns then.
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &connState{cfg: cfg, h: newHandles(), sess: sess, cancel: cancel, lanes: map[servedLane]struct{}{}}
	served := make(chan struct{})
	defer close(served)
	if cfg.Stop != nil {
		go c.drainOnStop(served)
	}
	if cfg.CallTimeout > 0 && cfg.OnHang != nil {
		go c.watchCalls(callCtx)
	}
	var wg sync.WaitGroup
	if cfg.Lanes != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.acceptLanes(callCtx, &wg)
		}()
	}
	if cfg.TLSLanes != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.acceptTLSLanes(callCtx, &wg)
		}()
	}
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.serveStream(callCtx, st)
		}()
	}
	sess.Close()
	cancel()
	c.shutdownLanes()
	// A call stuck in the vendor module (a blocking C_WaitForSlotEvent)
	// cannot be cancelled; the cleanup and the module's C_Finalize that
	// follow wake it, so wait for calls only so long.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(stuckCallWait):
		c.cfg.Log.Warn().Int64("calls", c.inflight.Load()).Msg("client gone with calls still in the module: cleaning up anyway")
	}
	c.cleanup(context.Background())
	return c.err
}

// stuckCallWait is how long a closed connection waits for its calls
// before cleaning up under them.
const stuckCallWait = 5 * time.Second

type connState struct {
	cancel   context.CancelFunc
	cfg      ServeConfig
	h        *handles
	sess     *yamux.Session
	once     sync.Once
	err      error
	inflight atomic.Int64

	lanesMu sync.Mutex
	lanes   map[servedLane]struct{}
	ended   bool // no more lanes: the connection is over
	// laneRefused: a lane was refused (logged once per connection).
	laneRefused bool
	clocks      map[*callClock]struct{} // of the goroutines serving calls
}

// acceptLanes serves each lane that arrives until the connection ends.
func (c *connState) acceptLanes(ctx context.Context, wg *sync.WaitGroup) {
	for {
		var fd int
		var ok bool
		select {
		case fd, ok = <-c.cfg.Lanes:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
		l, err := wire.NewLaneConn(fd)
		if err != nil {
			c.cfg.Log.Warn().Err(err).Msg("lane refused")
			continue
		}
		l.Serving()
		if !c.serveLane(ctx, wg, l, l, l.Codec(c.cfg.MaxFrame), true) {
			return
		}
	}
}

// acceptTLSLanes serves each TLS lane that arrives until the connection
// ends.
func (c *connState) acceptTLSLanes(ctx context.Context, wg *sync.WaitGroup) {
	for {
		var l *wire.TLSLane
		var ok bool
		select {
		case l, ok = <-c.cfg.TLSLanes:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
		// A remote client's CPU numbers are another machine's.
		ip, _ := l.RemoteAddr().(*net.TCPAddr)
		if !c.serveLane(ctx, wg, l, l.Conn, wire.NewCodec(l.Conn, c.cfg.MaxFrame), ip != nil && ip.IP.IsLoopback()) {
			return
		}
	}
}

// returnMemorySoon gives the memory of dropped large buffers back to the
// system a second after the first drop (the ones in that second join it):
// an idle process might not collect for two minutes, and its RSS would
// keep every large request it ever served.
func returnMemorySoon() {
	memReturn.mu.Lock()
	defer memReturn.mu.Unlock()
	if memReturn.pending {
		return
	}
	memReturn.pending = true
	time.AfterFunc(time.Second, func() {
		memReturn.mu.Lock()
		memReturn.pending = false
		memReturn.mu.Unlock()
		debug.FreeOSMemory()
	})
}

var memReturn struct {
	mu      sync.Mutex
	pending bool
}

// callClock says since when a goroutine serving calls has been in its
// current call (0: in none), for watchCalls. Two atomic stores a call:
// a timer per call cost C_GetInfo about 0.5 us of its 16 (p50, one
// thread, three samples each).
type callClock struct {
	start atomic.Int64 // UnixNano
	call  atomic.Pointer[wire.CallDesc]
}

func (c *connState) clock() *callClock {
	k := &callClock{}
	c.lanesMu.Lock()
	if c.clocks == nil {
		c.clocks = map[*callClock]struct{}{}
	}
	c.clocks[k] = struct{}{}
	c.lanesMu.Unlock()
	return k
}

func (c *connState) unclock(k *callClock) {
	c.lanesMu.Lock()
	delete(c.clocks, k)
	c.lanesMu.Unlock()
}

// watchCalls calls OnHang for a call that has run longer than
// CallTimeout, until ctx ends.
func (c *connState) watchCalls(ctx context.Context) {
	tick := time.NewTicker(min(c.cfg.CallTimeout/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			c.lanesMu.Lock()
			for k := range c.clocks {
				if t := k.start.Load(); t != 0 && now.Sub(time.Unix(0, t)) > c.cfg.CallTimeout {
					if d := k.call.Load(); d != nil {
						c.lanesMu.Unlock()
						c.cfg.OnHang(d.Name)
						c.lanesMu.Lock()
					}
				}
			}
			c.lanesMu.Unlock()
		}
	}
}

// lanesServed counts the lanes this process serves, every connection's.
var lanesServed atomic.Int64

// servedLane is the serving end of a lane: Shutdown wakes its goroutine
// from any other; Close is for that goroutine.
type servedLane interface {
	Shutdown()
	Close() error
}

// serveLane welcomes a lane on w and serves its calls on codec in a
// goroutine of its own, its thread on the client's CPU when follow; false
// if the connection has ended (the lane is closed).
func (c *connState) serveLane(ctx context.Context, wg *sync.WaitGroup, l servedLane, w io.Writer, codec *wire.Codec, follow bool) bool {
	c.lanesMu.Lock()
	if c.ended {
		c.lanesMu.Unlock()
		l.Close()
		return false
	}
	var why string
	switch {
	case c.cfg.MaxLanes > 0 && len(c.lanes) >= c.cfg.MaxLanes:
		why = fmt.Sprintf("the connection has %d lanes, the limit (--max-lanes)", len(c.lanes))
	case c.cfg.MaxLanesTotal > 0 && lanesServed.Load() >= int64(c.cfg.MaxLanesTotal):
		why = fmt.Sprintf("the broker serves %d lanes, the limit (--max-lanes-total)", lanesServed.Load())
	}
	if why != "" {
		logIt := !c.laneRefused
		c.laneRefused = true
		c.lanesMu.Unlock()
		if logIt {
			c.cfg.Log.Warn().Msg("lane refused: " + why + "; the client's further calls go over its connection")
		}
		wire.WriteMsg(w, &wire.Welcome{Version: wire.ProtocolVersion, Error: "lane refused: " + why})
		l.Close()
		return true
	}
	c.lanes[l] = struct{}{}
	lanesServed.Add(1)
	c.lanesMu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer lanesServed.Add(-1)
		var f *wire.CPUFollower
		if follow {
			f = wire.NewCPUFollower() // holds this goroutine's thread once a request says its CPU
			defer f.Release()
		}
		defer func() {
			c.lanesMu.Lock()
			delete(c.lanes, l)
			c.lanesMu.Unlock()
			l.Close()
		}()
		if err := wire.WriteMsg(w, &wire.Welcome{Version: wire.ProtocolVersion, Broker: c.cfg.Version}); err != nil {
			return
		}
		c.serveCalls(ctx, codec, f, func(err error) bool {
			return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || c.sess.IsClosed()
		})
	}()
	return true
}

// shutdownLanes wakes every lane's goroutine, blocked in a read, so it
// returns; no lane joins after this.
func (c *connState) shutdownLanes() {
	c.lanesMu.Lock()
	defer c.lanesMu.Unlock()
	c.ended = true
	for l := range c.lanes {
		l.Shutdown()
	}
}

// drainOnStop closes the connection when Stop closes, after the calls in
// flight have answered (bounded by Grace).
func (c *connState) drainOnStop(served <-chan struct{}) {
	select {
	case <-served:
		return
	case <-c.cfg.Stop:
	}
	c.cancel() // waits such as C_WaitForSlotEvent end now; calls in the module finish
	deadline := time.Now().Add(c.cfg.Grace)
	for c.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := c.inflight.Load(); n > 0 {
		c.cfg.Log.Warn().Int64("calls", n).Msg("shutting down: calls still running after the grace period")
	}
	c.sess.Close()
	c.shutdownLanes()
}

// drop ends the whole connection after a protocol violation: a client
// that sends a malformed frame cannot be trusted to be in step.
func (c *connState) drop(err error) {
	c.once.Do(func() {
		c.err = err
		c.cfg.Log.Warn().Err(err).Msg("dropping connection: protocol violation")
		c.sess.Close()
		c.shutdownLanes()
	})
}

func (c *connState) serveStream(ctx context.Context, st *yamux.Stream) {
	defer st.Close()
	c.serveCalls(ctx, wire.NewCodec(st, c.cfg.MaxFrame), nil, func(err error) bool {
		return errors.Is(err, io.EOF) || c.sess.IsClosed() || errors.Is(err, yamux.ErrStreamClosed)
	})
}

// serveCalls answers the calls on one stream or lane, one at a time, until
// it ends. ended tells a stream that ended (the client closed it, or the
// connection is going) from a protocol violation, which drops the whole
// connection. follow, on a lane, runs the thread on the CPU the client's
// requests come from (nil on a yamux stream, whose goroutines move between
// threads).
func (c *connState) serveCalls(ctx context.Context, codec *wire.Codec, follow *wire.CPUFollower, ended func(error) bool) {
	var reuse [wire.NumCalls]wire.Message // see wire.Reusable
	var clock *callClock                  // only where calls are timed (watchCalls)
	if c.cfg.CallTimeout > 0 && c.cfg.OnHang != nil {
		clock = c.clock()
		defer c.unclock(clock)
	}
	for {
		id, err := codec.ReadRequestID()
		if err != nil {
			if !ended(err) {
				c.drop(err)
			}
			return
		}
		follow.Follow(codec.PeerCPU())
		if id == wire.CallAdmin && c.cfg.Admin != nil {
			if !c.serveAdmin(ctx, codec) {
				return
			}
			continue
		}
		d := wire.Lookup(id)
		if d == nil {
			c.drop(fmt.Errorf("%w: %d", wire.ErrUnknownCall, uint64(id)))
			return
		}
		req := reuse[id]
		if req == nil {
			req = d.NewRequest()
			if wire.Reusable(id) {
				reuse[id] = req
			}
		}
		if err := codec.ReadRequestBody(req); err != nil {
			c.drop(fmt.Errorf("%s: %w", d.Name, err))
			return
		}
		c.inflight.Add(1)
		rv, resp := c.call(ctx, d, req, clock)
		err = codec.WriteResponse(rv, resp)
		c.inflight.Add(-1)
		if codec.ReleaseLarge() {
			reuse[id] = nil // its byte strings may point into the buffer
			returnMemorySoon()
		}
		if wire.ScrubPINs(req) {
			codec.Scrub()
		}
		if err != nil {
			if !c.sess.IsClosed() {
				c.cfg.Log.Warn().Err(err).Str("call", d.Name).Msg("cannot answer: connection broken")
			}
			return
		}
	}
}

// call runs one request against the backend with the connection's handles.
func (c *connState) call(ctx context.Context, d *wire.CallDesc, req wire.Message, clock *callClock) (rv wire.RV, resp wire.Message) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			c.cfg.Log.Error().Str("call", d.Name).Interface("panic", p).Str("stack", string(debug.Stack())).Msg("backend panicked")
			rv, resp = wire.CKR_GENERAL_ERROR, nil
		}
		if e := c.cfg.Log.Debug(); e.Enabled() {
			e.Str("call", d.Name).Str("rv", rv.String()).Dur("took", time.Since(start)).Msg("call")
		}
	}()
	if clock != nil && d.ID != wire.CallWaitForSlotEvent {
		clock.start.Store(start.UnixNano())
		clock.call.Store(d)
		defer clock.start.Store(0)
	}
	if q, ok := req.(*wire.FindObjectsRequest); ok && q.MaxObjectCount > wire.MaxItems {
		// An answer may hold fewer handles than asked for; one that held
		// more than a frame may decode would drop the connection.
		q.MaxObjectCount = wire.MaxItems
	}
	resp, err := c.h.invoke(ctx, d, c.cfg.Backend, req)
	rv = toRV(err)
	if rv != wire.CKR_OK {
		if !errors.As(err, new(wire.RV)) {
			c.cfg.Log.Error().Str("call", d.Name).Err(err).Msg("backend failed")
		}
		return rv, nil
	}
	return wire.CKR_OK, resp
}

// toRV: an RV passes; anything else is CKR_FUNCTION_FAILED (STYLE 4).
func toRV(err error) wire.RV {
	if err == nil {
		return wire.CKR_OK
	}
	var rv wire.RV
	if errors.As(err, &rv) {
		return rv
	}
	return wire.CKR_FUNCTION_FAILED
}

// cleanup closes what the client left open. (In a worker the module is
// finalized right after, which frees the same; a shared backend needs this.)
func (c *connState) cleanup(ctx context.Context) {
	open := c.h.realSessions()
	for _, s := range open {
		c.cfg.Backend.CloseSession(ctx, &wire.CloseSessionRequest{Session: s})
	}
	if len(open) > 0 {
		c.cfg.Log.Info().Int("sessions", len(open)).Msg("client gone: closed its sessions")
	}
}

// zerologWriter routes yamux's log lines into the broker's log.
type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.l.Warn().Str("from", "yamux").Msg(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

// serveAdmin answers one wire.CallAdmin; false: the connection is broken.
func (c *connState) serveAdmin(ctx context.Context, codec *wire.Codec) bool {
	var req wire.AdminRequest
	if err := codec.ReadRequestBody(&req); err != nil {
		c.drop(fmt.Errorf("admin: %w", err))
		return false
	}
	out, err := c.cfg.Admin(ctx, req.Command)
	if err != nil {
		c.cfg.Log.Warn().Str("command", req.Command).Err(err).Msg("admin request refused")
		return codec.WriteResponse(wire.CKR_FUNCTION_FAILED, nil) == nil
	}
	return codec.WriteResponse(wire.CKR_OK, &wire.AdminResponse{JSON: out}) == nil
}
