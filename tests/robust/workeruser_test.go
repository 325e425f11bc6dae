package robust

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
			giveToken(tok, u)
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
			login(t, c, openSession(t, c, wire.CKF_RW_SESSION), "1234")
			pid := nextWorker(t, logOf, 0)
			if !runsAs(t, pid, u.UID) {
				t.Errorf("worker %d does not run as %s (uid %d)", pid, u.Name, u.UID)
			}
			if status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); !strings.Contains(string(status), "NoNewPrivs:\t1") {
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
	giveToken(tok, u)
	// Config mode, with the token's PIN in a file the user owns (read
	// after the broker became the user), and its login made by the broker.
	pinFile := filepath.Join(tok.Dir, "pin")
	os.WriteFile(pinFile, []byte("1234\n"), 0o600)
	os.Chown(pinFile, u.UID, u.GID)
	// With handoff the module's worker, as the user too, reads the PIN.
	for _, iso := range []struct{ isolation, keys string }{{"process", ""}, {"shared", "handoff = true"}} {
		cb := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
			harness.ModuleTOML("softhsm", harness.SoftHSM, iso.isolation, iso.keys, map[string]string{"SOFTHSM2_CONF": tok.Conf})+
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
		if err := cc.Call(wire.CallLogin, &wire.LoginRequest{Session: openSession(t, cc, 0), UserType: wire.CKU_USER, Pin: wire.PIN("placeholder")}, &wire.LoginResponse{}); err != nil {
			t.Errorf("%s %s: C_Login with the PIN the broker reads as %s: %v", iso.isolation, iso.keys, u.Name, err)
		}
		if !runsAs(t, cb.PID(), u.UID) {
			t.Errorf("the config-mode broker does not run as %s", u.Name)
		}
		if iso.keys != "" {
			if pid := nextWorker(t, cb.Log, 0); !runsAs(t, pid, u.UID) {
				t.Errorf("the hand-off worker (pid %d) does not run as %s", pid, u.Name)
			}
		}
		cc.Close()
	}

	b := harness.StartBroker(t, tok, "--user", u.Name, "--socket-mode", "0666")
	c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Socket}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	login(t, c, openSession(t, c, 0), "1234")
	for who, pid := range map[string]int{"broker": b.PID(), "worker": nextWorker(t, func() string { return readLog(b.LogPath) }, 0)} {
		if !runsAs(t, pid, u.UID) {
			t.Errorf("the %s (pid %d) does not run as %s (uid %d)", who, pid, u.Name, u.UID)
		}
	}
}

// TestHandoffWorkerUser: a hand-off worker reads the PIN files and writes
// the audit log as the broker would, so a broker that runs its workers as
// another user (--worker-user) refuses a config with handoff, and says why.
func TestHandoffWorkerUser(t *testing.T) {
	harness.RequireRoot(t, "tests/robust starts workers as another user")
	u := harness.NewUser(t, "gop11-worker-h")
	tok := harness.NewToken(t, "robust", "1234", "123456")
	cfg := filepath.Join(t.TempDir(), "broker.toml")
	os.WriteFile(cfg, []byte(`listen = ["unix://`+filepath.Join(t.TempDir(), "b.sock")+`"]`+
		harness.ModuleTOML("softhsm", harness.SoftHSM, "shared", "handoff = true", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
		harness.TokenTOML("softhsm", "pkcs11:token=robust", 1)), 0o600)
	_, stderr, code := harness.Run(t, nil, harness.BrokerBin(), "--config", cfg, "--worker-user", u.Name)
	if code == 0 || !strings.Contains(stderr, "handoff needs its worker to run as the broker's user") {
		t.Errorf("a handoff config with --worker-user: exit %d, want a refusal that says why:\n%s", code, stderr)
	}
}
