package wire

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"time"
)

// TLS lanes: a tls:// connection's yamux streams cost every call two
// handoffs between goroutines on each side (each a wakeup, tens of
// microseconds on these VMs), so, as on a unix socket, each concurrent
// caller gets a connection of its own, joined to the first by the key of
// its Welcome. A lane is a TLS connection with the same client
// certificate (the broker checks that it names the same identity).
//
// A lane's TCP connection begins, before its TLS, with a preface: the
// magic "GOP11LN1" and the lane ID, a digest of the connection's lane
// key. It tells the broker which connection the lane joins before any
// TLS, so the process that serves the connection (in quick mode, its
// worker) runs the lane's TLS itself and no process relays the calls.
// The ID is no credential: whoever serves the lane still requires the
// connection's client certificate and then the lane key itself, in the
// lane's Hello, inside TLS.
//
// Beneath its TLS, on Linux, a lane's TCP socket is a LaneConn, read and written
// with blocking system calls by the goroutine making (or serving) the
// call, spinning before it blocks: through Go's network poller each read
// was a park and a wakeup, and a TLS lane's call cost 105 us where a unix
// lane's cost 15 (C_GetInfo, one thread, p50). Elsewhere (the Windows
// client) it is the net.Conn, through the poller (lane_other.go).

// LanePreface begins a TLS lane's TCP connection; LaneID follows it.
const (
	LanePreface    = "GOP11LN1"
	LaneIDLen      = 16
	LanePrefaceLen = len(LanePreface) + LaneIDLen
)

// LaneID is what a TLS lane's preface says of the connection's lane key.
func LaneID(key []byte) []byte {
	h := sha256.Sum256(append([]byte("gop11 lane id\x00"), key...))
	return h[:LaneIDLen]
}

// laneRaw is the socket beneath a client's TLS lane: a LaneConn on Linux
// (laneSocket), the net.Conn itself elsewhere.
type laneRaw interface {
	SetTimeout(time.Duration) error
	Shutdown()
	Close() error
}

// TLSLane is a lane's TLS connection and the socket beneath it: the
// client's end (openTLSLane) or the serving end (NewTLSLane).
type TLSLane struct {
	*tls.Conn
	raw laneRaw
}

// Shutdown wakes a Read blocked on the lane, from any goroutine.
func (l *TLSLane) Shutdown() { l.raw.Shutdown() }

// Close says close_notify and releases the socket; only the goroutine
// that owns the lane may call it.
func (l *TLSLane) Close() error {
	l.Conn.Close()
	return l.raw.Close()
}

// tlsLanes opens lanes to ep with cfg's TLS configuration.
func tlsLanes(ep Endpoint, cfg ClientConfig, key []byte) *laneOpener {
	o := laneOpener(func(timeout time.Duration, maxFrame int) (*lane, error) {
		l, err := openTLSLane(ep, cfg, key, timeout)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
		}
		return &lane{conn: l, codec: NewCodec(l.Conn, maxFrame)}, nil
	})
	return &o
}

func openTLSLane(ep Endpoint, cfg ClientConfig, key []byte, timeout time.Duration) (*TLSLane, error) {
	tc, err := clientTLS(ep, cfg)
	if err != nil {
		return nil, err
	}
	nc, err := (&net.Dialer{Timeout: timeout}).Dial("tcp", ep.Address)
	if err != nil {
		return nil, err
	}
	raw, under, err := laneSocket(nc)
	if err != nil {
		return nil, err
	}
	raw.SetTimeout(timeout)
	if _, err := under.Write(append([]byte(LanePreface), LaneID(key)...)); err != nil {
		raw.Close()
		return nil, err
	}
	conn, err := handshakeTLS(ep, tls.Client(under, tc))
	if err != nil {
		return nil, err // handshakeTLS closed the socket
	}
	l := &TLSLane{Conn: conn, raw: raw}
	h := &Hello{Magic: Magic, Version: ProtocolVersion, Program: cfg.Program, PID: uint64(os.Getpid()), Lane: key}
	if err := WriteMsg(conn, h); err != nil {
		l.Close()
		return nil, err
	}
	if _, err := ReadWelcome(conn); err != nil {
		l.Close()
		return nil, err
	}
	raw.SetTimeout(0)
	return l, nil
}
