package wire

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
// Beneath its TLS, a lane's TCP socket is a LaneConn, read and written
// with blocking system calls by the goroutine making (or serving) the
// call, spinning before it blocks: through Go's network poller each read
// was a park and a wakeup, and a TLS lane's call cost 105 us where a unix
// lane's cost 15 (C_GetInfo, one thread, p50).

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

// TLSLane is a lane's TLS connection and the blocking socket beneath it.
type TLSLane struct {
	*tls.Conn
	Raw *LaneConn
}

// Shutdown ends the lane: a Read blocked on it returns. Any goroutine may
// call it.
func (l *TLSLane) Shutdown() { l.Raw.Shutdown() }

// Close says close_notify and releases the socket; only the goroutine
// that owns the lane may call it.
func (l *TLSLane) Close() error {
	l.Conn.Close()
	return l.Raw.Close()
}

// NetLane is a LaneConn as the net.Conn crypto/tls runs on. Its reads are
// buffered, so a TLS record up to 64 KiB costs one system call.
type NetLane struct {
	*LaneConn
	r             *bufio.Reader
	local, remote net.Addr
}

// NewNetLane wraps l; local and remote are what LocalAddr and RemoteAddr say.
func NewNetLane(l *LaneConn, local, remote net.Addr) *NetLane {
	return &NetLane{LaneConn: l, r: bufio.NewReaderSize(l, laneBuf), local: local, remote: remote}
}

func (n *NetLane) Read(p []byte) (int, error) { return n.r.Read(p) }
func (n *NetLane) LocalAddr() net.Addr        { return n.local }
func (n *NetLane) RemoteAddr() net.Addr       { return n.remote }

// SetDeadline bounds each read and write from now on (crypto/tls bounds
// its close_notify with it); the zero time lifts the bound.
func (n *NetLane) SetDeadline(t time.Time) error {
	if t.IsZero() {
		return n.SetTimeout(0)
	}
	return n.SetTimeout(max(time.Until(t), time.Millisecond))
}

// A lane sets one bound for both directions.
func (n *NetLane) SetReadDeadline(t time.Time) error  { return n.SetDeadline(t) }
func (n *NetLane) SetWriteDeadline(t time.Time) error { return n.SetDeadline(t) }

// LaneFromConn takes over a connected TCP (or unix) connection's socket
// as a LaneConn: a duplicate of its descriptor, made blocking; conn is
// closed.
func LaneFromConn(conn net.Conn) (*LaneConn, error) {
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no socket", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	return NewLaneConn(fd)
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
	local, remote := nc.LocalAddr(), nc.RemoteAddr()
	raw, err := LaneFromConn(nc)
	if err != nil {
		return nil, err
	}
	raw.SetTimeout(timeout)
	if _, err := raw.Write(append([]byte(LanePreface), LaneID(key)...)); err != nil {
		raw.Close()
		return nil, err
	}
	conn, err := handshakeTLS(ep, tls.Client(NewNetLane(raw, local, remote), tc))
	if err != nil {
		return nil, err // handshakeTLS closed raw
	}
	l := &TLSLane{Conn: conn, Raw: raw}
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

// Addrs are the local and remote addresses of a lane's TCP socket (nil
// for another kind).
func (l *LaneConn) Addrs() (local, remote net.Addr) {
	conv := func(sa syscall.Sockaddr, err error) net.Addr {
		switch a := sa.(type) {
		case *syscall.SockaddrInet4:
			if err == nil {
				return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			}
		case *syscall.SockaddrInet6:
			if err == nil {
				return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			}
		}
		return nil
	}
	return conv(syscall.Getsockname(l.fd)), conv(syscall.Getpeername(l.fd))
}
