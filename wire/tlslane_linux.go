package wire

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// NewTLSLane is the serving end of a TLS lane: conn runs on raw, whose
// busy waits become a serving end's (LaneConn.Serving).
func NewTLSLane(conn *tls.Conn, raw *LaneConn) *TLSLane {
	raw.Serving()
	return &TLSLane{Conn: conn, raw: raw}
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

// laneSocket takes over a lane's dialled TCP connection as a blocking
// LaneConn; crypto/tls runs on the NetLane over it.
func laneSocket(nc net.Conn) (laneRaw, net.Conn, error) {
	local, remote := nc.LocalAddr(), nc.RemoteAddr()
	raw, err := LaneFromConn(nc)
	if err != nil {
		return nil, nil, err
	}
	return raw, NewNetLane(raw, local, remote), nil
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
