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

// TestWorkerUser: with --worker-user, a broker started as root runs its
// workers as that user, with no_new_privs, and they use a token store the
// user owns; in quick mode and config mode.
func TestWorkerUser(t *testing.T) {
	harness.RequireRoot(t, "tests/robust starts workers as another user")
	u := harness.NewUser(t, "gop11-worker-u")
	for _, mode := range []string{"quick", "config"} {
		t.Run(mode, func(t *testing.T) {
			tok := harness.NewToken(t, "robust", "1234", "123456")
			// The user's own token store, on a path it may walk.
			for d := tok.Dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
				os.Chmod(d, 0o755)
			}
			filepath.Walk(tok.Dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, u.UID, u.GID) })
			args := []string{"--worker-user", u.Name}
			var sock string
			var logOf func() string
			if mode == "config" {
				b := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
					harness.ModuleTOML("softhsm", harness.SoftHSM, "process", "", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
					harness.TokenTOML("softhsm", "pkcs11:token=robust", 1), nil, args...)
				sock, logOf = b.Sock, b.Log
			} else {
				b := harness.StartBroker(t, tok, args...)
				sock, logOf = b.Socket, func() string { return readLog(b.LogPath) }
			}
			c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: sock}, wire.ClientConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var slots wire.GetSlotListResponse
			if err := c.Call(wire.CallGetSlotList, &wire.GetSlotListRequest{TokenPresent: true}, &slots); err != nil || len(slots.SlotList) == 0 {
				t.Fatalf("slots %v: %v", slots.SlotList, err)
			}
			var s wire.OpenSessionResponse
			if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slots.SlotList[0], Flags: wire.CKF_SERIAL_SESSION | wire.CKF_RW_SESSION}, &s); err != nil {
				t.Fatalf("C_OpenSession: %v", err)
			}
			if err := c.Call(wire.CallLogin, &wire.LoginRequest{Session: s.Session, UserType: wire.CKU_USER, Pin: wire.PIN("1234")}, &wire.LoginResponse{}); err != nil {
				t.Fatalf("C_Login in a worker running as %s: %v", u.Name, err)
			}
			var pid int
			for deadline := time.Now().Add(5 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				m := regexp.MustCompile(`"worker":(\d+)[^\n]*"message":"(client connected: )?worker started"`).FindAllStringSubmatch(logOf(), -1)
				if len(m) > 0 {
					pid, _ = strconv.Atoi(m[len(m)-1][1])
				}
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatalf("worker %d: %v", pid, err)
			}
			if want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", u.UID, u.UID, u.UID, u.UID); !strings.Contains(string(status), want) {
				t.Errorf("worker %d does not run as %s (uid %d):\n%s", pid, u.Name, u.UID, status)
			}
			if !strings.Contains(string(status), "NoNewPrivs:\t1") {
				t.Errorf("worker %d may gain privileges (no NoNewPrivs: 1)", pid)
			}
		})
	}
}

// TestBrokerUser: with --user, a broker started as root binds its socket,
// then runs as that user, and so do its workers, which use a token store
// the user owns.
func TestBrokerUser(t *testing.T) {
	harness.RequireRoot(t, "tests/robust starts a broker that becomes another user")
	u := harness.NewUser(t, "gop11-broker-u")
	tok := harness.NewToken(t, "robust", "1234", "123456")
	for d := tok.Dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	filepath.Walk(tok.Dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, u.UID, u.GID) })
	// Config mode, with the token's PIN in a file the user owns (read
	// after the broker became the user), and its login made by the broker.
	pinFile := filepath.Join(tok.Dir, "pin")
	os.WriteFile(pinFile, []byte("1234\n"), 0o600)
	os.Chown(pinFile, u.UID, u.GID)
	cb := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
		harness.ModuleTOML("softhsm", harness.SoftHSM, "process", "", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
		harness.TokenTOML("softhsm", "pkcs11:token=robust", 1)+fmt.Sprintf(`pin = "file:%s"

[[client]]
name = "root"
uids = [0]
login = "broker"
`, pinFile), nil, "--user", u.Name)
	cc, err := wire.Dial(wire.Endpoint{Network: "unix", Address: cb.Sock}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var cs wire.OpenSessionResponse
	if err := cc.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 1, Flags: wire.CKF_SERIAL_SESSION}, &cs); err != nil {
		t.Fatal(err)
	}
	if err := cc.Call(wire.CallLogin, &wire.LoginRequest{Session: cs.Session, UserType: wire.CKU_USER, Pin: wire.PIN("placeholder")}, &wire.LoginResponse{}); err != nil {
		t.Errorf("C_Login with the PIN the broker reads as %s: %v", u.Name, err)
	}
	if status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cb.PID())); !strings.Contains(string(status), fmt.Sprintf("Uid:\t%d\t", u.UID)) {
		t.Errorf("the config-mode broker does not run as %s", u.Name)
	}

	b := harness.StartBroker(t, tok, "--user", u.Name, "--socket-mode", "0666")
	c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Socket}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var slots wire.GetSlotListResponse
	if err := c.Call(wire.CallGetSlotList, &wire.GetSlotListRequest{TokenPresent: true}, &slots); err != nil || len(slots.SlotList) == 0 {
		t.Fatalf("slots %v: %v", slots.SlotList, err)
	}
	var s wire.OpenSessionResponse
	if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slots.SlotList[0], Flags: wire.CKF_SERIAL_SESSION}, &s); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(wire.CallLogin, &wire.LoginRequest{Session: s.Session, UserType: wire.CKU_USER, Pin: wire.PIN("1234")}, &wire.LoginResponse{}); err != nil {
		t.Fatalf("C_Login: %v", err)
	}
	want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", u.UID, u.UID, u.UID, u.UID)
	check := func(who string, pid int) {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatalf("%s %d: %v", who, pid, err)
		}
		if !strings.Contains(string(status), want) {
			t.Errorf("the %s (pid %d) does not run as %s (uid %d)", who, pid, u.Name, u.UID)
		}
	}
	check("broker", b.PID())
	m := regexp.MustCompile(`"worker":(\d+)[^\n]*worker started`).FindStringSubmatch(readLog(b.LogPath))
	if m == nil {
		t.Fatal("no worker started")
	}
	pid, _ := strconv.Atoi(m[1])
	check("worker", pid)
}
