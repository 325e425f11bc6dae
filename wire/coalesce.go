package wire

import (
	"encoding/binary"
	"net"
)

// coalescing is the connection handed to yamux. yamux (v0.1.2) sends a
// data frame as two writes from its one send loop: the 12-byte header,
// then the body. Each write is a system call, and the peer's receive loop
// usually wakes once for the header and again for the body. coalescing
// holds back a data header that announces a body and sends it with the
// body in one writev, so a message costs one write and one wakeup. Any
// other write (window update, ping, go-away: a header with no body) goes
// out at once. yamux's send loop is the only writer, so no lock is needed.
type coalescing struct {
	net.Conn
	hdr  [yamuxHeaderLen]byte
	held bool
}

const (
	yamuxHeaderLen = 12
	yamuxVersion   = 0
	yamuxTypeData  = 0
)

func (c *coalescing) Write(p []byte) (int, error) {
	if c.held {
		c.held = false
		bufs := net.Buffers{c.hdr[:], p}
		if _, err := bufs.WriteTo(c.Conn); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if len(p) == yamuxHeaderLen && p[0] == yamuxVersion && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(c.hdr[:], p)
		c.held = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}
