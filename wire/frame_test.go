package wire_test

import (
	"bytes"
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/wire"
)

// Large byte strings are written from where they are (a frame in pieces):
// over a lane with writev, over any other stream piece by piece. Either
// way the peer reads the same frames, in step, and a small message after
// a large one is intact.
func TestLargeByteStringsInPieces(t *testing.T) {
	big := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	transports := map[string]func(t *testing.T) (client, server *wire.Codec){
		"lane": func(t *testing.T) (*wire.Codec, *wire.Codec) {
			a, b := lanePair(t)
			return a.Codec(0), b.Codec(0)
		},
		"stream": func(t *testing.T) (*wire.Codec, *wire.Codec) {
			a, b := net.Pipe()
			t.Cleanup(func() { a.Close(); b.Close() })
			return wire.NewCodec(a, 0), wire.NewCodec(b, 0)
		},
	}
	sizes := []int{0, 1, 32<<10 - 1, 32 << 10, 1 << 20, 3<<20 + 5}
	for name, open := range transports {
		t.Run(name, func(t *testing.T) {
			client, server := open(t)
			for i, n := range sizes {
				data := big(n, byte(i))
				done := make(chan error, 1)
				go func() {
					done <- client.WriteRequest(wire.CallDigest, &wire.DigestRequest{Session: uint64(i), Data: data})
				}()
				id, err := server.ReadRequestID()
				if err != nil || id != wire.CallDigest {
					t.Fatalf("%d bytes: read id %v, %v", n, id, err)
				}
				var req wire.DigestRequest
				if err := server.ReadRequestBody(&req); err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				if err := <-done; err != nil {
					t.Fatalf("%d bytes: write: %v", n, err)
				}
				if req.Session != uint64(i) || !bytes.Equal(req.Data, data) {
					t.Fatalf("%d bytes: got session %d and %d bytes, not what was sent", n, req.Session, len(req.Data))
				}
				// And back: a large output in a response.
				go func() {
					done <- server.WriteResponse(wire.CKR_OK, &wire.DigestResponse{Digest: data, SizeHint: uint64(n)})
				}()
				var resp wire.DigestResponse
				if err := client.ReadResponse(&resp); err != nil {
					t.Fatalf("%d bytes: response: %v", n, err)
				}
				if err := <-done; err != nil {
					t.Fatalf("%d bytes: write response: %v", n, err)
				}
				if resp.SizeHint != uint64(n) || !bytes.Equal(resp.Digest, data) {
					t.Fatalf("%d bytes: response differs", n)
				}
			}
		})
	}
}

// A frame over the limit is refused before anything is written, large
// pieces counted, and the codec stays usable.
func TestLargeByteStringOverLimit(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	client, server := wire.NewCodec(a, 64<<10), wire.NewCodec(b, 64<<10)
	err := client.WriteRequest(wire.CallDigest, &wire.DigestRequest{Data: make([]byte, 64<<10)})
	if !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("over the limit: %v, want ErrFrameTooLarge", err)
	}
	go client.WriteRequest(wire.CallDigest, &wire.DigestRequest{Session: 7, Data: make([]byte, 40<<10)})
	if id, err := server.ReadRequestID(); err != nil || id != wire.CallDigest {
		t.Fatalf("next frame: %v, %v", id, err)
	}
	var req wire.DigestRequest
	if err := server.ReadRequestBody(&req); err != nil || req.Session != 7 || len(req.Data) != 40<<10 {
		t.Fatalf("next frame: %v, session %d, %d bytes", err, req.Session, len(req.Data))
	}
}

// A serving lane that waits for its next call right after one (a busy
// lane: its wait is a raw poll that holds the goroutine's P) does not hold
// up a stop-the-world: a collection finishes while it waits, and the lane
// then answers the next call.
func TestBusyServingLaneLetsGCRun(t *testing.T) {
	a, b := lanePair(t)
	b.Serving()
	client, server := a.Codec(0), b.Codec(0)
	served := make(chan error, 1)
	go func() {
		for {
			id, err := server.ReadRequestID()
			if err != nil {
				served <- err
				return
			}
			var req wire.GetInfoRequest
			if err := server.ReadRequestBody(&req); err != nil {
				served <- err
				return
			}
			if err := server.WriteResponse(wire.CKR_OK, &wire.GetInfoResponse{Info: wire.Info{LibraryDescription: id.String()}}); err != nil {
				served <- err
				return
			}
		}
	}()
	call := func() {
		t.Helper()
		if err := client.WriteRequest(wire.CallGetInfo, &wire.GetInfoRequest{}); err != nil {
			t.Fatal(err)
		}
		var resp wire.GetInfoResponse
		if err := client.ReadResponse(&resp); err != nil || resp.Info.LibraryDescription != "C_GetInfo" {
			t.Fatalf("call: %v, %+v", err, resp.Info)
		}
	}
	call() // the lane is busy now: its next wait is a raw poll
	gc := make(chan struct{})
	go func() {
		runtime.GC()
		runtime.GC()
		close(gc)
	}()
	select {
	case <-gc:
	case err := <-served:
		t.Fatalf("serving goroutine ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("a garbage collection did not finish while a busy lane waited")
	}
	call()
	b.Shutdown()
	if err := <-served; err == nil {
		t.Fatal("serving goroutine ended without an error after Shutdown")
	}
}

// lanePair is the two ends of a lane over a socketpair, closed when the
// test ends.
func lanePair(t *testing.T) (*wire.LaneConn, *wire.LaneConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ends [2]*wire.LaneConn
	for i, fd := range fds {
		if ends[i], err = wire.NewLaneConn(fd); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ends[i].Close() })
	}
	return ends[0], ends[1]
}
