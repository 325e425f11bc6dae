package main

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// handed is a shared worker's table of the connections the broker handed
// it (quick mode's --isolation shared, config mode's handoff), so that
// each lane the broker hands over after its connection reaches it.
type handed struct {
	ctrl  *broker.SharedCtrl
	tls   func() *tls.Config // for TLS lanes' handshakes
	log   zerolog.Logger
	mu    sync.Mutex
	conns map[uint64]*handedConn
	wg    sync.WaitGroup
}

// handedConn is one connection: its lanes arrive on lanes and tlsLanes.
type handedConn struct {
	*broker.SharedConn
	lanes    chan int
	tlsLanes chan *wire.TLSLane
}

func newHanded(ctrl *broker.SharedCtrl, tlsCfg func() *tls.Config, log zerolog.Logger) *handed {
	return &handed{ctrl: ctrl, tls: tlsCfg, log: log, conns: map[uint64]*handedConn{}}
}

// serve runs serveConn for the connection of message m in a goroutine of
// its own; the broker hears when it has ended.
func (h *handed) serve(m broker.CtrlMsg, serveConn func(nc net.Conn, c *handedConn)) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer h.ctrl.Ended(m.ID)
		nc, err := net.FileConn(os.NewFile(uintptr(m.FD), "client"))
		if err != nil {
			h.log.Warn().Err(err).Msg("a connection the broker handed over is no socket")
			return
		}
		c := &handedConn{SharedConn: m.Conn, lanes: make(chan int, 16), tlsLanes: make(chan *wire.TLSLane, 16)}
		h.mu.Lock()
		h.conns[m.ID] = c
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			delete(h.conns, m.ID)
			h.mu.Unlock()
		}()
		serveConn(nc, c)
	}()
}

// lane gives the lane of message m to its connection; a lane of one that
// has ended is closed.
func (h *handed) lane(m broker.CtrlMsg) {
	h.mu.Lock()
	c := h.conns[m.ID]
	h.mu.Unlock()
	switch {
	case c == nil:
		syscall.Close(m.FD)
	case !m.TLS:
		c.lanes <- m.FD
	default:
		go acceptTLSLane(m.FD, h.tls(), c.Identity, c.LaneKey, c.tlsLanes, h.log)
	}
}

// run takes the broker's messages until ctx ends, then returns once
// every connection has ended (each ends once its calls in flight have,
// within the grace); if the broker goes, the worker (who, for the log)
// exits. A connection goes to serveConn, a message other takes (nil: none
// expected) to it, anything else is a lane for its connection.
func (h *handed) run(ctx context.Context, who string, serveConn func(nc net.Conn, c *handedConn), other func(broker.CtrlMsg) bool) {
	for {
		select {
		case m, ok := <-h.ctrl.Msgs:
			if !ok {
				h.log.Warn().Msg("broker gone: " + who + " exits")
				os.Exit(1)
			}
			switch {
			case m.Conn != nil:
				h.serve(m, serveConn)
			case other != nil && other(m):
			default:
				h.lane(m)
			}
		case <-ctx.Done():
			h.wg.Wait()
			return
		}
	}
}

// refuseHanded answers the connections the broker has handed over so far
// (it sends each as soon as the worker starts) with why this worker cannot
// serve them, as a worker of a connection's own does, rather than leave
// the client an end of file; their lanes are closed.
func refuseHanded(ctrl *broker.SharedCtrl, why string) {
	for {
		select {
		case m, ok := <-ctrl.Msgs:
			if !ok {
				return
			}
			f := os.NewFile(uintptr(m.FD), "handed")
			if m.Conn != nil {
				wire.WriteMsg(f, &wire.Welcome{Version: wire.ProtocolVersion, Error: why})
			}
			f.Close()
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}
