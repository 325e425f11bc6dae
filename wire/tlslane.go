package wire

import (
	"crypto/tls"
	"fmt"
	"os"
	"time"
)

// TLS lanes: a tls:// connection's yamux streams cost every call two
// handoffs between goroutines on each side (each a wakeup, tens of
// microseconds on these VMs), so, as on a unix socket, each concurrent
// caller gets a connection of its own, joined to the first by the key of
// its Welcome. A lane is a TLS connection with the same client
// certificate (the broker checks that it names the same identity); the
// calling goroutine writes and reads it itself.

// tlsLane is a lane's TLS connection.
type tlsLane struct{ *tls.Conn }

// Shutdown ends the lane: a Read blocked on it returns.
func (l tlsLane) Shutdown() { l.Conn.Close() }

// tlsLanes opens lanes to ep with cfg's TLS configuration.
func tlsLanes(ep Endpoint, cfg ClientConfig, key []byte) *laneOpener {
	o := laneOpener(func(timeout time.Duration, maxFrame int) (*lane, error) {
		deadline := time.Now().Add(timeout)
		conn, err := dialTLS(ep, cfg, deadline)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
		}
		conn.SetDeadline(deadline)
		h := &Hello{Magic: Magic, Version: ProtocolVersion, Program: cfg.Program, PID: uint64(os.Getpid()), Lane: key}
		if err := WriteMsg(conn, h); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
		}
		if _, err := ReadWelcome(conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
		}
		conn.SetDeadline(time.Time{})
		tc := conn.(*tls.Conn)
		return &lane{conn: tlsLane{tc}, codec: NewCodec(tc, maxFrame)}, nil
	})
	return &o
}
