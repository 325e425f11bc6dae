package robust

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestBrokerThreads: 100 clients connect at once (a worker each), call,
// and leave. The quick-mode broker waits for its workers without a thread
// each, so it does not keep a thread per client it ever had.
func TestBrokerThreads(t *testing.T) {
	tok := harness.NewToken(t, "robust", "1234", "123456")
	b := harness.StartBroker(t, tok)
	pid := b.PID()
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	var clients []*wire.Client
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Socket}, wire.ClientConfig{DialTimeout: 30 * time.Second})
			if err != nil {
				t.Error(err)
				return
			}
			if err := c.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{}); err != nil {
				t.Error(err)
			}
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	during := threads(t, pid)
	for _, c := range clients {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(readLog(b.LogPath), `"message":"worker exited"`) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	after := threads(t, pid)
	t.Logf("broker threads: %d with %d workers alive, %d after they exited", during, n, after)
	if during >= n || after >= n/2 {
		t.Errorf("the broker has %d threads with %d workers and %d after: want fewer than a thread per worker", during, n, after)
	}
}

func threads(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(tasks)
}
