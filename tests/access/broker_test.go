package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

// waitMax bounds every wait for a log line or a client.
const waitMax = 30 * time.Second

// broker is a config-mode gop11-broker: its config file, its unix socket
// (in a directory every user may enter) and its log (JSON lines at debug
// level).
type broker struct {
	t      *testing.T
	cfg    string
	sock   string
	logf   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startBroker writes the config that cfg returns for the broker's socket
// path, starts the broker and returns once it serves every listener.
func startBroker(t *testing.T, cfg func(sock string) string) *broker {
	t.Helper()
	harness.RequireBuild(t)
	// Every user may reach the socket (its own mode is socket_mode).
	sockDir := tempDir(t, "gop11-access-sock-", 0o755)
	dir := t.TempDir()
	b := &broker{t: t, cfg: filepath.Join(dir, "broker.toml"), sock: filepath.Join(sockDir, "b.sock"),
		logf: filepath.Join(dir, "broker.log"), exited: make(chan struct{})}
	text := cfg(b.sock)
	b.write(text)
	logFile, err := os.OpenFile(b.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// The config's log_level decides: debug logs every call, which a
	// walk through 100k handles makes a lot of.
	b.cmd = exec.Command(harness.BrokerBin(), "--config", b.cfg)
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	// Its own process group: a ^C for go test reaches it through cleanup.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(b.stop)
	// Ready: a "serving" line per listener (each is listening by then).
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "listen") {
			n = strings.Count(line, "://")
		}
	}
	b.waitCount("serving", all, n, "serving")
	return b
}

func (b *broker) stop() {
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.t.Errorf("broker did not stop within 10 s of SIGTERM")
		b.cmd.Process.Kill()
		<-b.exited
	}
	if b.t.Failed() {
		b.t.Logf("broker log %s (tail):\n%s", b.logf, harness.Tail(b.log(), 40))
	}
}

func (b *broker) write(cfg string) {
	b.t.Helper()
	if err := os.WriteFile(b.cfg, []byte(cfg), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

func (b *broker) endpoint() string { return "unix://" + b.sock }

// log is the broker's log so far, complete lines only.
func (b *broker) log() string {
	data, _ := os.ReadFile(b.logf)
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		return string(data[:i+1])
	}
	return ""
}

// entry is one JSON line of the broker log.
type entry map[string]any

func (e entry) str(k string) string {
	switch v := e[k].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(int64(v))
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (e entry) msg() string { return e.str("message") }

func (e entry) String() string { b, _ := json.Marshal(e); return string(b) }

// entries returns the log's entries whose message starts with msg (all of
// them for ""). Only those lines are decoded: a log at debug level can
// hold a line per call of a 100k-handle walk.
func (b *broker) entries(msg string) []entry {
	var out []entry
	for _, line := range strings.Split(b.log(), "\n") {
		var e entry
		if strings.Contains(line, `"message":"`+msg) && json.Unmarshal([]byte(line), &e) == nil && strings.HasPrefix(e.msg(), msg) {
			out = append(out, e)
		}
	}
	return out
}

// matching returns the entries whose message starts with msg and for
// which keep is true.
func (b *broker) matching(msg string, keep func(entry) bool) []entry {
	var out []entry
	for _, e := range b.entries(msg) {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// waitCount waits until n entries with a message starting with msg
// match keep, and returns them. A line
// the broker writes after the client saw the outcome (a TLS refusal: the
// alert goes out before the broker logs) is waited for, never slept for.
func (b *broker) waitCount(msg string, keep func(entry) bool, n int, what string) []entry {
	b.t.Helper()
	deadline := time.Now().Add(waitMax)
	for {
		if got := b.matching(msg, keep); len(got) >= n {
			return got
		}
		select {
		case <-b.exited:
			b.t.Fatalf("broker exited while waiting for %d × %s:\n%s", n, what, harness.Tail(b.log(), 30))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %d × %s in the broker log within %v:\n%s", n, what, waitMax, harness.Tail(b.log(), 30))
		}
	}
}

// reload writes cfg, sends SIGHUP and returns once the broker has loaded
// it (one more "configuration loaded" line).
func (b *broker) reload(cfg string) {
	b.t.Helper()
	loaded := func(e entry) bool { return e.msg() == "configuration loaded" }
	n := len(b.matching("configuration loaded", loaded))
	b.write(cfg)
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		b.t.Fatal(err)
	}
	b.waitCount("configuration loaded", loaded, n+1, "configuration loaded after SIGHUP")
}

// pinFile writes the broker-held PIN: root's, mode 0600, as the broker
// requires.
func pinFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "user.pin")
	if err := os.WriteFile(p, []byte(userPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// softhsmModule is the [[module]] of a config: SoftHSM2 for tok, in the
// given isolation ("handoff": shared, with handoff = true).
func softhsmModule(tok *harness.Token, isolation string) string {
	extra := ""
	if isolation == "handoff" {
		isolation, extra = "shared", "handoff = true"
	}
	return harness.ModuleTOML("softhsm", harness.SoftHSM, isolation, extra, map[string]string{"SOFTHSM2_CONF": tok.Conf})
}

// tokenTable is one [[token]]: label at slot, with a broker-held PIN when
// pin is a file path.
func tokenTable(label string, slot int, pin string) string {
	s := harness.TokenTOML("softhsm", "pkcs11:token="+label, uint64(slot))
	if pin != "" {
		s += fmt.Sprintf("pin = \"file:%s\"\n", pin)
	}
	return s
}
