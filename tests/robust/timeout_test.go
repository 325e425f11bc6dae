package robust

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestQuickCallTimeout: in quick mode, and in config mode with handoff
// (whose worker serves every connection), a vendor call that hangs, and
// a worker that is stopped, each end that worker once the call timeout
// has passed: the client's call fails (never waits for ever), the log
// says which, and the next connection is served.
func TestQuickCallTimeout(t *testing.T) {
	harness.Require(t, "pkcs11-tool")
	tok := harness.NewToken(t, "robust", "1234", "123456")
	if _, stderr, code := harness.Run(t, tok.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "robust", "--login", "--pin", "1234",
		"--keypairgen", "--key-type", "EC:prime256v1", "--label", "k", "--id", "01"); code != 0 {
		t.Fatalf("keypairgen: %s", stderr)
	}
	t.Run("quick", func(t *testing.T) {
		b := harness.StartBroker(t, tok, "--module", harness.FaultModule(t), "--call-timeout", "2s")
		callTimeout(t, wire.Endpoint{Network: "unix", Address: b.Socket}, func() string { return readLog(b.LogPath) })
	})
	t.Run("handoff", func(t *testing.T) {
		b := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
			harness.ModuleTOML("robust", harness.FaultModule(t), "shared", "handoff = true\ncall_timeout = \"2s\"", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
			harness.TokenTOML("robust", "pkcs11:token=robust", 1), nil)
		callTimeout(t, wire.Endpoint{Network: "unix", Address: b.Sock}, b.Log)
	})
}

func callTimeout(t *testing.T, ep wire.Endpoint, log func() string) {
	// loggedIn opens a session on a fresh connection and logs in; it
	// returns the session and the private key.
	loggedIn := func() (*wire.Client, uint64, uint64) {
		c, err := wire.Dial(ep, wire.ClientConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s := openSession(t, c, 0)
		login(t, c, s, "1234")
		var found wire.FindObjectsResponse
		c.Call(wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s, Template: []wire.Attribute{{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_PRIVATE_KEY}}}, &wire.FindObjectsInitResponse{})
		c.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: s, MaxObjectCount: 1}, &found)
		c.Call(wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: s}, &wire.FindObjectsFinalResponse{})
		if len(found.Objects) != 1 {
			t.Fatal("no private key")
		}
		return c, s, found.Objects[0]
	}
	sign := func(c *wire.Client, s, k uint64, data string) error {
		if err := c.Call(wire.CallSignInit, &wire.SignInitRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: k}, &wire.SignInitResponse{}); err != nil {
			return err
		}
		return c.Call(wire.CallSign, &wire.SignRequest{Session: s, Data: []byte(data)}, &wire.SignResponse{})
	}
	fails := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		err := f()
		d := time.Since(start)
		var rv wire.RV
		if err == nil || errors.As(err, &rv) || d > 10*time.Second {
			t.Errorf("%s: %v after %v, want the connection lost after the 2 s call timeout", what, err, d)
		}
	}

	// A vendor call that never returns.
	c, s, k := loggedIn()
	fails("a hung C_Sign", func() error { return sign(c, s, k, harness.FaultHang+" 32 bytes of data to be signed") })
	if !regexp.MustCompile(`"call":"C_Sign"[^\n]*hung: the call ran over the call timeout`).MatchString(log()) {
		t.Errorf("the log does not say the call hung:\n%s", harness.Tail(log(), 10))
	}

	// A worker stopped (SIGSTOP) while its client waits. Its client may
	// be served before the broker logs that it started it.
	hungWorker := lastWorker(log())
	c, s, k = loggedIn()
	pid := nextWorker(t, log, hungWorker)
	syscall.Kill(pid, syscall.SIGSTOP)
	waitStopped(t, pid) // a group stop is not instant on a loaded machine
	fails("a call to a stopped worker", func() error { return sign(c, s, k, "0123456789abcdef0123456789abcdef") })
	if !strings.Contains(log(), "worker stopped for longer than the call timeout") {
		t.Errorf("the log does not say the worker was stopped:\n%s", harness.Tail(log(), 10))
	}

	// Everyone else goes on.
	c, s, k = loggedIn()
	if err := sign(c, s, k, "0123456789abcdef0123456789abcdef"); err != nil {
		t.Errorf("a new client after both: %v", err)
	}
}

// waitStopped waits until every thread of pid is stopped (state T).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatalf("worker %d: %v", pid, err)
		}
		stopped := 0
		for _, task := range tasks {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			// The state follows the command name's closing parenthesis.
			if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'T' {
				stopped++
			}
		}
		if stopped == len(tasks) {
			return
		}
	}
	t.Fatalf("worker %d did not stop within 5 s of SIGSTOP", pid)
}
