// Command client is lanefloor's client transport as a C library
// (-buildmode=c-shared): gop11's lanes (wire.LaneConn: the spin, the
// yields, the waits) carrying floor.c's frames, called from C threads
// through cgo as libgop11 is. tests/bench/lanefloor.c loads it.
package main

// #include <stdint.h>
import "C"

import (
	"encoding/binary"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gop11/gop11/wire"
)

const payload = 64 // floor.c's frame: a 4-byte big-endian length, then this

var (
	mu    sync.Mutex
	lanes []*wire.LaneConn
)

// lanefloor_open connects to the unix socket path; it returns a handle
// for lanefloor_call, or -1.
//
//export lanefloor_open
func lanefloor_open(path *C.char) C.int {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return -1
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: C.GoString(path)}); err != nil {
		syscall.Close(fd)
		return -1
	}
	l, err := wire.NewLaneConn(fd)
	if err != nil {
		return -1
	}
	mu.Lock()
	defer mu.Unlock()
	lanes = append(lanes, l)
	return C.int(len(lanes) - 1)
}

// lanefloor_call makes one round trip on the handle's lane: 0, or -1.
//
//export lanefloor_call
func lanefloor_call(h C.int) C.int {
	mu.Lock()
	l := lanes[h]
	mu.Unlock()
	var req [4 + payload]byte
	binary.BigEndian.PutUint32(req[:], payload)
	if _, err := l.Write(req[:]); err != nil {
		return -1
	}
	var resp [4 + payload]byte
	for got := 0; got < len(resp); {
		n, err := l.Read(resp[got:])
		if err != nil {
			return -1
		}
		got += n
	}
	if resp != req {
		return -1
	}
	return 0
}

// GOP11_LANE_SPIN sets the lanes' spin as it does libgop11's ("0s": none).
func init() {
	if d, err := time.ParseDuration(os.Getenv("GOP11_LANE_SPIN")); err == nil {
		wire.SetLaneSpin(d)
	}
}

func main() {}
