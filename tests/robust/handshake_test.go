package robust

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// flooder opens N connections to the socket given and never sends a
// Hello; it prints how many it opened, then waits for stdin to close.
const flooder = `
import socket, sys
path, n = sys.argv[1], int(sys.argv[2])
held = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        held.append(s)
    except OSError:
        s.close()
print(len(held), flush=True)
sys.stdin.read()
`

// TestHandshakeFlood: another user opens 2,000 connections to the broker
// and never says Hello. Past --max-handshakes-per-peer its connections are
// closed at once, the log says so a few lines a second, and a client of
// another uid is served within a second, twice.
func TestHandshakeFlood(t *testing.T) {
	harness.RequireRoot(t, "tests/robust runs a flooder as another user")
	harness.Require(t, "setpriv")
	harness.Require(t, "/usr/bin/python3")
	u := harness.NewUser(t, "gop11-flooder")
	tok := harness.NewToken(t, "robust", "1234", "123456")
	b := harness.StartBroker(t, tok, "--socket-mode", "0666", "--max-handshakes-per-peer", "64")
	os.Chmod(filepath.Dir(b.Socket), 0o755) // the flooder must reach the socket
	cmd := exec.Command("setpriv", fmt.Sprintf("--reuid=%d", u.UID), fmt.Sprintf("--regid=%d", u.GID), "--clear-groups", "--",
		"/usr/bin/python3", "-c", flooder, b.Socket, "2000")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the flooder said nothing: %v", err)
	}
	t.Logf("the flooder holds %s connections (the kernel accepts them; the broker closes all but 64)", strings.TrimSpace(line))
	for i := 0; i < 2; i++ {
		start := time.Now()
		c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Socket}, wire.ClientConfig{})
		if err != nil {
			t.Fatalf("a client during the flood: %v", err)
		}
		err = c.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{})
		c.Close()
		if d := time.Since(start); err != nil || d > time.Second {
			t.Errorf("a client during the flood: %v after %v, want served within 1 s", err, d)
		}
	}
	log := readLog(b.LogPath)
	refused := strings.Count(log, "too many handshakes under way")
	if refused == 0 {
		t.Errorf("no refusal in the broker's log:\n%s", harness.Tail(log, 10))
	}
	if refused > 20 {
		t.Errorf("%d refusal lines for one flood: the log must hold them back", refused)
	}
	if !strings.Contains(log, fmt.Sprintf(`"peer":"uid=%d"`, u.UID)) {
		t.Error("the refusal does not name the flooding uid")
	}
}
