package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// brokerReadyTimeout bounds the wait for the broker's socket to appear.
	brokerReadyTimeout = 10 * time.Second
	// brokerStopGrace is how long Stop waits after SIGTERM before SIGKILL.
	brokerStopGrace = 5 * time.Second
	// logTailLines is how much of a log a failed test prints.
	logTailLines = 60
	// logQuiet is how long the broker log must stay unchanged for Settle.
	logQuiet = 150 * time.Millisecond
	// logSettleMax bounds Settle on a broker that never stops logging.
	logSettleMax = 5 * time.Second
)

// Broker is a running build/gop11-broker serving one SoftHSM2 token
// configuration on a unix socket. Start one with StartBroker.
type Broker struct {
	Socket        string // absolute path of the unix socket
	LogPath       string // the broker's stderr and stdout: JSON lines at debug level
	ModuleLogPath string // where ClientEnv tells libgop11.so to log (GOP11_LOG)
	Token         *Token // the token whose configuration the broker was given

	t    testing.TB
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartBroker starts build/gop11-broker on a fresh unix socket with
// SoftHSM2 as its vendor module, tok's SOFTHSM2_CONF in its environment,
// debug-level JSON logs captured to LogPath and extraArgs appended to its
// command line. It returns once the socket exists (at most 10 s, or the test
// fails with the log's tail). Cleanup sends SIGTERM, then SIGKILL after 5 s,
// and prints the tails of the broker and module logs if the test failed.
func StartBroker(t testing.TB, tok *Token, extraArgs ...string) *Broker {
	t.Helper()
	RequireBuild(t)
	// t.TempDir() paths are built from the test name and can overflow the
	// 107-byte limit of sun_path: the socket gets a short directory of its own.
	sockDir, err := os.MkdirTemp("", "gop11-")
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	b := &Broker{
		Socket:        filepath.Join(sockDir, "broker.sock"),
		LogPath:       filepath.Join(logDir, "broker.log"),
		ModuleLogPath: filepath.Join(logDir, "module.log"),
		Token:         tok,
		t:             t,
		args:          extraArgs,
	}
	t.Cleanup(func() {
		b.stop()
		os.RemoveAll(sockDir)
		if t.Failed() {
			t.Logf("broker log %s (last %d lines):\n%s", b.LogPath, logTailLines, tail(readFile(b.LogPath), logTailLines))
			if s := readFile(b.ModuleLogPath); s != "" {
				t.Logf("module log %s (last %d lines):\n%s", b.ModuleLogPath, logTailLines, tail(s, logTailLines))
			}
		}
	})
	b.start()
	return b
}

// Endpoint returns the address clients use: "unix://" + Socket.
func (b *Broker) Endpoint() string { return "unix://" + b.Socket }

// ClientEnv returns the environment that makes a client loading
// libgop11.so talk to this broker and log to ModuleLogPath.
func (b *Broker) ClientEnv() []string {
	return []string{"GOP11_BROKER=" + b.Endpoint(), "GOP11_LOG=" + b.ModuleLogPath}
}

// Log returns everything the broker has logged so far, across restarts,
// after Settle.
func (b *Broker) Log() string {
	b.Settle()
	return readFile(b.LogPath)
}

// Settle waits until the broker log has stopped growing: no change in its
// size for logQuiet (at most logSettleMax in all). A client can see a
// call's result before the broker has logged it (the broker's per-client
// worker processes log through it), so a log read right after a client
// exits may lack that client's last calls. Log, Entries, Calls and Results
// settle first.
func (b *Broker) Settle() {
	size := func() int64 {
		if fi, err := os.Stat(b.LogPath); err == nil {
			return fi.Size()
		}
		return -1
	}
	start := time.Now()
	last, quietSince := size(), time.Now()
	for time.Since(quietSince) < logQuiet && time.Since(start) < logSettleMax {
		time.Sleep(logQuiet / 6)
		if n := size(); n != last {
			last, quietSince = n, time.Now()
		}
	}
}

// ModuleLog returns everything libgop11.so has logged so far into
// ModuleLogPath (empty if nothing was, or it logs nowhere by default).
func (b *Broker) ModuleLog() string { return readFile(b.ModuleLogPath) }

// LogEntry is one JSON line of the broker log, decoded generically.
type LogEntry map[string]any

// Entries returns the broker log's JSON lines, skipping any line that is
// not a JSON object (a Go panic trace, for one).
func (b *Broker) Entries() []LogEntry { return logEntries(b.Log()) }

// logEntries are the JSON lines of a broker log.
func logEntries(log string) []LogEntry {
	var out []LogEntry
	sc := bufio.NewScanner(bytes.NewReader([]byte(log)))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e LogEntry
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// Calls counts the broker log's lines by their "call" field: at debug
// level the broker logs one line per forwarded PKCS #11 call, such as
// {"call":"C_Sign","rv":"CKR_OK",...}. Calls()["C_Sign"] > 0 therefore
// shows that a client's C_Sign went through this broker.
func (b *Broker) Calls() map[string]int { return callCounts(b.Entries()) }

func callCounts(entries []LogEntry) map[string]int {
	n := map[string]int{}
	for _, e := range entries {
		if c, ok := e["call"].(string); ok {
			n[c]++
		}
	}
	return n
}

// Results counts, for one function name, the "rv" fields of its log lines:
// Results("C_Login")["CKR_PIN_INCORRECT"] is how many logins failed so.
func (b *Broker) Results(call string) map[string]int {
	n := map[string]int{}
	for _, e := range b.Entries() {
		if c, _ := e["call"].(string); c == call {
			rv, _ := e["rv"].(string)
			n[rv]++
		}
	}
	return n
}

// PID is the broker's process ID.
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd.Process.Pid
}

// Restart stops the broker (SIGTERM, as in cleanup) and starts it again on
// the same socket, appending to the same log.
func (b *Broker) Restart() {
	b.t.Helper()
	b.stop()
	b.start()
}

// Kill ends the broker with SIGKILL, as a crash would: no shutdown code
// runs and the socket file stays behind. Restart brings it back.
func (b *Broker) Kill() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	b.cmd = nil
}

func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		b.t.Fatalf("broker already running")
	}
	// A socket left behind by Kill would look like readiness at once.
	if err := os.Remove(b.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		b.t.Fatal(err)
	}
	logf, err := os.OpenFile(b.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		b.t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	args := append([]string{
		"--listen", b.Endpoint(),
		"--module", SoftHSM,
		"--log-level", "debug",
		"--log-format", "json",
	}, b.args...)
	cmd := exec.Command(BrokerBin(), args...)
	cmd.Env = append(cleanEnv(), b.Token.Env()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a ^C aimed at go test must not reach the broker
	// before cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start %s: %v", BrokerBin(), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.cmd, b.done = cmd, done

	deadline := time.Now().Add(brokerReadyTimeout)
	for {
		// Ready is a connect that succeeds: the socket file exists from
		// bind(), before listen(), and a connect in between is refused.
		if c, err := net.Dial("unix", b.Socket); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			b.cmd = nil
			b.t.Fatalf("broker exited before its socket appeared (%v); log tail:\n%s",
				cmd.ProcessState, tail(readFile(b.LogPath), logTailLines))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("broker socket %s did not appear within %v; log tail:\n%s",
				b.Socket, brokerReadyTimeout, tail(readFile(b.LogPath), logTailLines))
		}
	}
}

// stop sends SIGTERM and waits; after brokerStopGrace it sends SIGKILL.
func (b *Broker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(brokerStopGrace):
		b.t.Errorf("broker did not exit within %v of SIGTERM; sending SIGKILL", brokerStopGrace)
		_ = b.cmd.Process.Signal(syscall.SIGKILL)
		<-b.done
	}
	b.cmd = nil
}

// readFile returns the file's contents, or "" if it cannot be read.
func readFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(data)
}

// String describes the broker for test messages.
func (b *Broker) String() string { return fmt.Sprintf("broker(%s)", b.Endpoint()) }
