package robust

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

// TestSocketPath: --listen unix:///PATH removes only a stale socket. A
// regular file, a directory or a live socket at PATH survives, and the
// broker stops with a message naming what is there.
func TestSocketPath(t *testing.T) {
	harness.RequireBuild(t)
	dir, err := os.MkdirTemp("", "gop11-path-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	start := func(path string) (string, int) {
		out, stderr, code := harness.Run(t, nil, harness.BrokerBin(), "--listen", "unix://"+path, "--module", harness.SoftHSM, "--log-level", "warn")
		return out + stderr, code
	}

	file := filepath.Join(dir, "precious")
	os.WriteFile(file, []byte("keep me"), 0o600)
	if out, code := start(file); code == 0 || !strings.Contains(out, "is a regular file, not a socket") {
		t.Errorf("a regular file at the path: exit %d\n%s", code, out)
	}
	if data, err := os.ReadFile(file); err != nil || string(data) != "keep me" {
		t.Errorf("the regular file is gone or changed: %q %v", data, err)
	}

	sub := filepath.Join(dir, "adir")
	os.Mkdir(sub, 0o700)
	if out, code := start(sub); code == 0 || !strings.Contains(out, "is a directory, not a socket") {
		t.Errorf("a directory at the path: exit %d\n%s", code, out)
	}

	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if out, code := start(live); code == 0 || !strings.Contains(out, "another broker is serving there") {
		t.Errorf("a live socket at the path: exit %d\n%s", code, out)
	}
	l.Close()

	// A stale socket (nobody listens) is replaced.
	stale := filepath.Join(dir, "stale.sock")
	sl, _ := net.Listen("unix", stale)
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	tok := harness.NewToken(t, "robust", "1234", "123456")
	b := harness.StartBroker(t, tok, "--listen", "unix://"+stale)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(readLog(b.LogPath), `"listen":"unix://`+stale) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c, err := net.Dial("unix", stale); err != nil {
		t.Errorf("the broker does not serve where a stale socket was: %v", err)
	} else {
		c.Close()
	}
}
