package robust

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// readLog is a log file as it is now.
func readLog(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// memory is a memory figure of pid's /proc status (VmRSS, VmHWM), in bytes.
func memory(t *testing.T, pid int, key string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	m := regexp.MustCompile(key + `:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no %s for pid %d", key, pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// runsAs reports whether pid's real, effective, saved and file uids are all uid.
func runsAs(t *testing.T, pid, uid int) bool {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	return strings.Contains(string(status), fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid))
}

var workerStarted = regexp.MustCompile(`"worker":(\d+)[^\n]*worker started`)

// lastWorker is the pid of the last worker the broker log says it
// started; 0: none.
func lastWorker(log string) int {
	m := workerStarted.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(m[len(m)-1][1])
	return pid
}

// nextWorker waits up to 5 s for the broker log to name a worker started
// after worker prev (0: any), and returns its pid: a worker can serve its
// client before the broker logs that it started it.
func nextWorker(t *testing.T, log func() string, prev int) int {
	t.Helper()
	pid := lastWorker(log())
	for deadline := time.Now().Add(5 * time.Second); (pid == prev || pid == 0) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pid = lastWorker(log())
	}
	if pid == prev || pid == 0 {
		t.Fatalf("no worker started after %d in the broker log", prev)
	}
	return pid
}

// openSession opens a session on c's first slot with a token; flags are
// added to CKF_SERIAL_SESSION.
func openSession(t *testing.T, c *wire.Client, flags uint64) uint64 {
	t.Helper()
	var slots wire.GetSlotListResponse
	if err := c.Call(wire.CallGetSlotList, &wire.GetSlotListRequest{TokenPresent: true}, &slots); err != nil || len(slots.SlotList) == 0 {
		t.Fatalf("slots %v: %v", slots.SlotList, err)
	}
	var s wire.OpenSessionResponse
	if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slots.SlotList[0], Flags: wire.CKF_SERIAL_SESSION | flags}, &s); err != nil {
		t.Fatalf("C_OpenSession: %v", err)
	}
	return s.Session
}

// login logs session s in as the user.
func login(t *testing.T, c *wire.Client, s uint64, pin string) {
	t.Helper()
	if err := c.Call(wire.CallLogin, &wire.LoginRequest{Session: s, UserType: wire.CKU_USER, Pin: wire.PIN(pin)}, &wire.LoginResponse{}); err != nil {
		t.Fatalf("C_Login: %v", err)
	}
}

// giveToken makes tok's store u's, on a path u may walk.
func giveToken(tok *harness.Token, u harness.User) {
	for d := tok.Dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	filepath.Walk(tok.Dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, u.UID, u.GID) })
}
