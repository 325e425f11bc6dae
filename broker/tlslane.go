package broker

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/wire"
)

// TLS lanes (wire/tlslane.go) begin with a preface that names the
// connection they join; the process serving that connection runs their
// TLS.

// lanePreface reads a TLS lane's preface from a connection accepted on a
// tls:// listener, if it has one (a TLS ClientHello begins otherwise),
// and returns the lane ID it carries. It reads nothing of a connection
// without a preface: the first byte is peeked.
func lanePreface(conn net.Conn) (id []byte, ok bool, err error) {
	sc, isSock := conn.(syscall.Conn)
	if !isSock {
		return nil, false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false, err
	}
	var first [1]byte
	var n int
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), first[:], syscall.MSG_PEEK)
		return perr != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return nil, false, err
	case perr != nil:
		return nil, false, perr
	case n == 0:
		return nil, false, io.EOF
	case first[0] != wire.LanePreface[0]:
		return nil, false, nil
	}
	buf := make([]byte, wire.LanePrefaceLen)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, false, err
	}
	if string(buf[:len(wire.LanePreface)]) != wire.LanePreface {
		return nil, false, fmt.Errorf("neither a TLS ClientHello nor a lane preface (%q)", buf[:len(wire.LanePreface)])
	}
	return buf[len(wire.LanePreface):], true, nil
}

// AcceptTLSLane runs the serving side of a TLS lane on raw, its preface
// read: the TLS handshake, then the lane's Hello, within timeout. The
// lane must present a certificate that names want (the connection's
// identity) and the connection's lane key. A refusal is logged here,
// before the lane hears it (its client may end the connection, and the
// worker with it, as soon as it does). The Welcome is the caller's.
func AcceptTLSLane(raw *wire.LaneConn, cfg *tls.Config, want acl.Identity, key []byte, timeout time.Duration, log zerolog.Logger) (*wire.TLSLane, error) {
	raw.SetTimeout(timeout)
	local, remote := raw.Addrs()
	where := fmt.Sprint(remote)
	tc, ident, err := tlsIdentity(wire.NewNetLane(raw, local, remote), cfg)
	if err != nil {
		raw.Close()
		log.Warn().Err(err).Str("remote", where).Msg("TLS lane refused")
		return nil, err
	}
	l := wire.NewTLSLane(tc, raw)
	refuse := func(why string) (*wire.TLSLane, error) {
		log.Warn().Str("remote", where).Str("why", why).Msg("TLS lane refused")
		wire.WriteMsg(tc, &wire.Welcome{Version: wire.ProtocolVersion, Error: "lane refused: " + why})
		l.Close()
		return nil, errors.New(why)
	}
	hello, err := wire.ReadHello(tc)
	switch {
	case err != nil:
		return refuse(err.Error())
	case ident.Serial != want.Serial || !slices.Equal(ident.CertNames, want.CertNames):
		return refuse(fmt.Sprintf("%s is not the connection's certificate", ident))
	case subtle.ConstantTimeCompare(hello.Lane, key) != 1:
		return refuse("not the connection's lane key")
	}
	raw.SetTimeout(0)
	return l, nil
}

// joinTLSLane gives a TLS lane, its preface read, to the connection its
// lane ID names: to its worker, which runs the lane's TLS, or, where the
// broker serves the connection, to the broker's own TLS.
func (s *Server) joinTLSLane(conn net.Conn, id []byte, log zerolog.Logger) {
	v, ok := s.lanes.Load(laneIDKey(id))
	if !ok {
		log.Warn().Str("remote", conn.RemoteAddr().String()).Msg("lane refused: no connection has this lane ID")
		conn.Close()
		return
	}
	t := v.(*laneTarget)
	if t.handTLS != nil {
		defer conn.Close()
		f, err := connFile(conn)
		if err == nil {
			err = t.handTLS(f)
			f.Close()
		}
		if err != nil {
			log.Warn().Err(err).Msg("lane refused: cannot hand it to the worker")
		}
		return
	}
	raw, err := wire.LaneFromConn(conn)
	if err != nil {
		log.Warn().Err(err).Msg("lane refused")
		return
	}
	l, err := AcceptTLSLane(raw, s.tlsConfig.Load(), t.ident, t.key, s.HandshakeTimeout, log)
	if err != nil {
		return
	}
	if err := t.attachTLS(l); err != nil {
		log.Warn().Err(err).Msg("lane refused")
		l.Close()
	}
}

func laneIDKey(id []byte) string { return "id:" + string(id) }
