package robust

import (
	"sync"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestIdleLanesAfterLargeFrames: 40 threads of one client each digest
// 15 MiB at once (40 lanes, each carrying one large request), then stay
// idle. The worker gives the large buffers back: its RSS a few seconds
// later stays under idleBound, where it kept them all (678 MB reported).
func TestIdleLanesAfterLargeFrames(t *testing.T) {
	const lanes, size, idleBound = 40, 15 << 20, 160 << 20
	tok := harness.NewToken(t, "robust", "1234", "123456")
	b := harness.StartBroker(t, tok)
	c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Socket}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, size)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < lanes; i++ {
		s := openSession(t, c, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := c.Call(wire.CallDigestInit, &wire.DigestInitRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_SHA256}}, &wire.DigestInitResponse{})
			if err == nil {
				err = c.Call(wire.CallDigest, &wire.DigestRequest{Session: s, Data: data}, &wire.DigestResponse{})
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	pid := nextWorker(t, func() string { return readLog(b.LogPath) }, 0)
	var rss int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if rss = memory(t, pid, "VmRSS"); rss < idleBound || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("worker %d: %d MiB resident, idle after %d lanes carried %d MiB each (peak %d MiB)", pid, rss>>20, lanes, size>>20, memory(t, pid, "VmHWM")>>20)
	if rss >= idleBound {
		t.Errorf("the worker holds %d MiB with its lanes idle, want under %d MiB", rss>>20, idleBound>>20)
	}
}
