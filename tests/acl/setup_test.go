// Package acl tests the broker's access control end to end: real users
// (made with useradd) and real TLS certificates in front of real SoftHSM2
// tokens, driven by pkcs11-tool and by a Go client that loads
// build/libgop11.so (this test binary, run again as another user).
package acl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// The token's PINs: distinctive, so that a search of the logs for them
// finds nothing else.
const (
	userPIN = "Qx7-acl-pin-4711"
	soPIN   = "Qx7-acl-so-0815"
)

func TestMain(m *testing.M) {
	if s := os.Getenv("GOP11_ACL_CLIENT"); s != "" {
		os.Exit(clientMain(s))
	}
	os.Exit(m.Run())
}

// requireRoot: users are made and switched to, which needs root.
func requireRoot(t *testing.T) {
	t.Helper()
	harness.RequireRoot(t, "tests/acl makes users with useradd and runs clients as them with setpriv")
}

// testUser makes a system user for the test (harness.NewUser) and
// returns its uid.
func testUser(t *testing.T, name string) int {
	t.Helper()
	return harness.NewUser(t, name).UID
}

// asUser prefixes argv so that it runs as uid with that user's group only.
func asUser(uid int, argv ...string) []string {
	return append([]string{"setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups", "--"}, argv...)
}

// shared is a directory every test user can read, holding copies of the
// client module and of this test binary, and the clients' logs.
type shared struct {
	dir, module, self string
}

func newShared(t *testing.T) *shared {
	t.Helper()
	dir, err := os.MkdirTemp("", "gop11-acl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := &shared{dir: dir, module: filepath.Join(dir, "libgop11.so"), self: filepath.Join(dir, "acl.test")}
	copyFile(t, harness.Module(), s.module)
	copyFile(t, self, s.self)
	return s
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := harness.CopyFile(from, to, 0o755); err != nil {
		t.Fatal(err)
	}
}

// broker is a gop11-broker started with a config file.
type broker = harness.ConfigBroker

// startBroker starts a config-mode broker with cfg (harness.StartConfigBroker).
func startBroker(t *testing.T, cfg string) *broker {
	t.Helper()
	return harness.StartConfigBroker(t, cfg, nil)
}

// startQuick starts a quick-mode broker (--module SoftHSM2 for tok) with
// cfg as its --config.
func startQuick(t *testing.T, tok *harness.Token, cfg string) *broker {
	t.Helper()
	return harness.StartConfigBroker(t, cfg, tok.Env(), "--module", harness.SoftHSM)
}

// run runs argv with env and returns stdout, stderr and the exit code.
func run(t *testing.T, env []string, argv ...string) (string, string, int) {
	t.Helper()
	return harness.Run(t, env, argv[0], argv[1:]...)
}

// tokenWithKeys makes a SoftHSM2 token "shared" with an EC key pair
// ca-key (ID 01) and dev-key (ID 02), and a second token "other".
func tokenWithKeys(t *testing.T) *harness.Token {
	t.Helper()
	harness.Require(t, "pkcs11-tool")
	tok := harness.NewToken(t, "shared", userPIN, soPIN)
	tok.AddToken(t, "other", userPIN, soPIN)
	for _, k := range []struct{ label, id string }{{"ca-key", "01"}, {"dev-key", "02"}} {
		_, stderr, code := run(t, tok.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "shared", "--login", "--pin", userPIN,
			"--keypairgen", "--key-type", "EC:prime256v1", "--label", k.label, "--id", k.id)
		if code != 0 {
			t.Fatalf("keypairgen %s: %s", k.label, stderr)
		}
	}
	return tok
}

// moduleAndTokens is the [[module]] (path, SoftHSM2 or the fault module
// before it) and the two [[token]]s of a config, the first with a
// broker-held PIN in pinFile.
func moduleAndTokens(tok *harness.Token, path, isolation, pinFile string) string {
	return harness.ModuleTOML("softhsm", path, isolation, "", map[string]string{"SOFTHSM2_CONF": tok.Conf}) +
		harness.TokenTOML("softhsm", "pkcs11:token=shared", 1) + fmt.Sprintf("pin = %q\n", "file:"+pinFile) +
		harness.TokenTOML("softhsm", "pkcs11:token=other", 2)
}

// pinFile writes the broker-held PIN, mode 0600.
func pinFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(p, []byte(userPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// logs collects what every process of a test printed, for the PIN search.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) add(s ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range s {
		l.buf.WriteString(x)
		l.buf.WriteByte('\n')
	}
}

// noPIN fails the test if any encoding of the token's PINs is in text.
func noPIN(t *testing.T, what, text string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, secret := range []string{userPIN, soPIN} {
		for form, s := range harness.SecretForms(secret) {
			if strings.Contains(low, strings.ToLower(s)) {
				t.Errorf("%s holds the PIN (%s form)", what, form)
			}
		}
	}
}
