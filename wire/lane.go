package wire

import (
	"errors"
	"sync/atomic"
	"time"
)

// A lane is a second kind of stream between a client and the process that
// serves it: a socket of its own that carries one call at a time, read and
// written with blocking system calls by the goroutine making (or serving)
// the call. A call on a lane costs one write and one read on each side and
// no goroutine handoff; a call on a yamux stream costs a handoff to the
// session's send loop and one from its receive loop, on both sides, which
// on a small VM is two to three times the socket round trip itself
// (PROTOCOL.md, "Lanes"). Lanes join an existing connection: they share
// its virtual handles and its worker, and end with it.

// LaneKeyLen is the length of the secret that joins a lane to a connection.
const LaneKeyLen = 16

// laneBuf is the read buffer of a lane: a reply up to this size is read
// with one system call.
const laneBuf = 64 << 10

// laneSpin is how long a lane spins before it blocks: lane_linux.go says
// why and what it was measured to give.
var laneSpin atomic.Int64 // ns; 0: never spin

// DefaultLaneSpin is the lane spin unless SetLaneSpin says otherwise.
const DefaultLaneSpin = 100 * time.Microsecond

func init() { laneSpin.Store(int64(DefaultLaneSpin)) }

// SetLaneSpin sets how long a lane spins before it blocks (0: never).
func SetLaneSpin(d time.Duration) { laneSpin.Store(int64(max(d, 0))) }

// laneNoFollow turns off the serving end's following of its client's CPU
// (CPUFollower; lane_linux.go says what it was measured to give).
var laneNoFollow atomic.Bool

// SetLaneFollow says whether a serving lane runs on its client's CPU (the
// default) or where the kernel puts it.
func SetLaneFollow(on bool) { laneNoFollow.Store(!on) }

// LaneDialer opens a new lane's socket and does whatever the serving side
// needs to attach it (a unix broker: connect and send the Hello with the
// connection's lane key). The client then waits for the lane's Welcome.
type LaneDialer func() (fd int, err error)

// ErrNoLane: a lane could not be opened; the call goes over yamux.
var ErrNoLane = errors.New("wire: no lane")

// laneOpener opens one lane of a connection, Welcome read: a unix lane
// (openLane) or a TLS one (tlslane.go).
type laneOpener func(timeout time.Duration, maxFrame int) (*lane, error)

type lane struct {
	conn  laneEnd
	codec *Codec
	cpu   int // its last call was made from here (Client.getLane)
}

// laneEnd is a lane's connection as the client holds it: Shutdown wakes a
// call blocked on it, from any goroutine.
type laneEnd interface {
	Shutdown()
	Close() error
}
