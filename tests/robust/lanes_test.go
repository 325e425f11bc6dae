// Package robust tests that no client can take the broker down or starve
// the others (issue 21), each attack against a real broker with a client
// that keeps working beside it.
package robust

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestLaneFlood: a client opens 200 lanes on its connection (each would
// hold a thread where it is served). Past --max-lanes they are refused
// with the reason, one log line per connection; past --max-lanes-total
// another connection's are too. A client beside the flood keeps hashing,
// and a client with more threads than its lane limit keeps working over
// its lanes and its connection. In quick mode (a worker per connection),
// with the shared worker, and in config mode.
func TestLaneFlood(t *testing.T) {
	for _, mode := range []string{"quick", "quick-shared", "config"} {
		t.Run(mode, func(t *testing.T) { laneFlood(t, mode) })
	}
}

func laneFlood(t *testing.T, mode string) {
	tok := harness.NewToken(t, "robust", "1234", "123456")
	limits := []string{"--max-lanes", "4", "--max-lanes-total", "6"}
	var sock string
	var logOf func() string
	switch mode {
	case "config":
		b := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
			harness.ModuleTOML("softhsm", harness.SoftHSM, "process", "", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
			harness.TokenTOML("softhsm", "pkcs11:token=robust", 1), nil, limits...)
		sock, logOf = b.Sock, b.Log
	default:
		args := limits
		if mode == "quick-shared" {
			args = append(args, "--isolation", "shared")
		}
		b := harness.StartBroker(t, tok, args...)
		// Not b.Log, which waits for the log to settle: the hasher keeps
		// it busy.
		sock, logOf = b.Socket, func() string { return readLog(b.LogPath) }
	}
	ep := wire.Endpoint{Network: "unix", Address: sock}
	dial := func() *wire.Client {
		c, err := wire.Dial(ep, wire.ClientConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Beside the attack: a client hashing on one lane, all along.
	hasher := dial()
	s := openSession(t, hasher, 0)
	ctx, stop := context.WithCancel(context.Background())
	var hashed, failed atomic.Int64
	var firstErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			err := hasher.Call(wire.CallDigestInit, &wire.DigestInitRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_SHA256}}, &wire.DigestInitResponse{})
			if err == nil {
				err = hasher.Call(wire.CallDigest, &wire.DigestRequest{Session: s, Data: []byte("beside the flood")}, &wire.DigestResponse{})
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				continue
			}
			hashed.Add(1)
		}
	}()

	// The flood: raw lanes with the attacker's own key.
	flood := func(c *wire.Client, n int) (accepted, refused int) {
		for i := 0; i < n; i++ {
			fd, err := wire.DialUnixLane(sock, c.Welcome.Lane, "attacker", uint64(os.Getpid()))()
			if err != nil {
				t.Fatalf("lane %d: %v", i, err)
			}
			l, err := wire.NewLaneConn(fd)
			if err != nil {
				t.Fatal(err)
			}
			l.SetTimeout(5 * time.Second)
			_, err = wire.ReadWelcome(l)
			switch {
			case err == nil:
				accepted++
				t.Cleanup(func() { l.Close() })
				continue
			case strings.Contains(err.Error(), "lane refused"):
				refused++
			default:
				t.Errorf("lane %d: %v, want a Welcome or a refusal", i, err)
			}
			l.Close()
		}
		return accepted, refused
	}
	attacker := dial()
	if a, r := flood(attacker, 200); a != 4 || r != 196 {
		t.Errorf("200 lanes on one connection: %d accepted, %d refused; want 4 and 196 (--max-lanes 4)", a, r)
	}
	if n := strings.Count(logOf(), "lane refused: the connection has 4 lanes"); n != 1 {
		t.Errorf("%d log lines for the refused lanes, want 1 per connection", n)
	}
	// The hasher's lane and the attacker's 4 are 5 of --max-lanes-total 6
	// where one process serves them all.
	second := dial()
	a, r := flood(second, 10)
	switch mode {
	case "quick":
		// A worker per connection: each has its own total.
		if a != 4 || r != 6 {
			t.Errorf("a second connection's 10 lanes: %d accepted, %d refused; want 4 and 6", a, r)
		}
	default:
		if a != 1 || r != 9 || !strings.Contains(logOf(), "lane refused: the broker serves 6 lanes") {
			t.Errorf("a second connection's 10 lanes: %d accepted, %d refused; want 1 and 9 (--max-lanes-total 6)", a, r)
		}
	}

	// A client with more threads than lanes it may have.
	busy := dial()
	var wg sync.WaitGroup
	var busyErrs atomic.Int64
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if err := busy.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{}); err != nil {
					busyErrs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := busyErrs.Load(); n != 0 {
		t.Errorf("%d of 800 calls of a 16-thread client failed", n)
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	<-done
	if n := failed.Load(); n != 0 || hashed.Load() == 0 {
		err, _ := firstErr.Load().(error)
		t.Errorf("the client beside the flood: %d digests, %d failed (first: %v)", hashed.Load(), n, err)
	}
	if err := hasher.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{}); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("the broker after the flood: %v", err)
	}
}
