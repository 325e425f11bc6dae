// Package shared tests shared module instances (isolation "shared" and
// "inprocess"): one SoftHSM2 instance serves every connection, and each
// connection still sees what an application that loaded SoftHSM2 alone
// would see. The same checks run against isolation "process" (a module
// instance per connection, the vendor's own semantics) where both must
// agree.
package shared

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

const (
	userPIN = "Qx7-shared-pin-4711"
	soPIN   = "Qx7-shared-so-0815"
	softhsm = "/usr/lib/softhsm/libsofthsm2.so"
	slot    = 1
)

// server is a broker in front of the token "shared", whatever its mode.
type server struct {
	sock string
	slot uint64 // the token's slot as the broker shows it
	log  func() string
}

// quickShared is quick mode with --isolation shared, and handoff config
// mode's isolation "shared" with handoff = true, beside the config file's
// isolations.
const (
	quickShared = "quick-shared"
	handoff     = "handoff"
)

// moduleKeys is the isolation key and the extra [[module]] keys for iso.
func moduleKeys(iso, extra string) (string, string) {
	if iso == handoff {
		return "shared", "handoff = true\n" + extra
	}
	return iso, extra
}

// setup makes a token with an EC key pair (a private key and a public
// one) and starts a broker serving it: config mode with isolation iso
// (extra: more [[module]] keys), or quick mode with --isolation shared.
func setup(t *testing.T, iso, extra string) (*harness.Token, *server) {
	t.Helper()
	tok := newToken(t)
	if iso == quickShared {
		b := harness.StartBroker(t, tok, "--isolation", "shared")
		n, _ := strconv.ParseUint(tok.Slot, 10, 64)
		return tok, &server{sock: b.Socket, slot: n, log: b.Log}
	}
	iso, extra = moduleKeys(iso, extra)
	cfg := `listen = ["unix://%SOCK%"]` + harness.ModuleTOML("softhsm", softhsm, iso, extra, map[string]string{"SOFTHSM2_CONF": tok.Conf}) +
		harness.TokenTOML("softhsm", "pkcs11:token=shared", slot)
	b := harness.StartConfigBroker(t, cfg, nil)
	return tok, &server{sock: b.Sock, slot: slot, log: b.Log}
}

// newToken makes the token "shared" with an EC key pair "signer".
func newToken(t *testing.T) *harness.Token {
	t.Helper()
	harness.Require(t, "pkcs11-tool")
	tok := harness.NewToken(t, "shared", userPIN, soPIN)
	if _, stderr, code := harness.Run(t, tok.Env(), "pkcs11-tool", "--module", softhsm, "--token-label", "shared", "--login", "--pin", userPIN,
		"--keypairgen", "--key-type", "EC:prime256v1", "--label", "signer", "--id", "01"); code != 0 {
		t.Fatalf("keypairgen: %s", stderr)
	}
	return tok
}

// app is one connection to the broker: one PKCS #11 application.
type app struct {
	t    *testing.T
	c    *wire.Client
	slot uint64
}

func connect(t *testing.T, b *server) *app {
	t.Helper()
	c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.sock}, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &app{t: t, c: c, slot: b.slot}
}

func (a *app) open(rw bool) uint64 {
	a.t.Helper()
	flags := uint64(wire.CKF_SERIAL_SESSION)
	if rw {
		flags |= wire.CKF_RW_SESSION
	}
	var r wire.OpenSessionResponse
	if err := a.c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: a.slot, Flags: flags}, &r); err != nil {
		a.t.Fatalf("C_OpenSession: %v", err)
	}
	return r.Session
}

func (a *app) login(s uint64, pin string) error {
	return a.c.Call(wire.CallLogin, &wire.LoginRequest{Session: s, UserType: wire.CKU_USER, Pin: wire.PIN(pin)}, &wire.LoginResponse{})
}

func (a *app) logout(s uint64) error {
	return a.c.Call(wire.CallLogout, &wire.LogoutRequest{Session: s}, &wire.LogoutResponse{})
}

func (a *app) state(s uint64) (uint64, error) {
	var r wire.GetSessionInfoResponse
	err := a.c.Call(wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: s}, &r)
	return r.Info.State, err
}

// find returns the objects whose attributes match tmpl.
func (a *app) find(s uint64, tmpl ...wire.Attribute) []uint64 {
	a.t.Helper()
	if err := a.c.Call(wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s, Template: append([]wire.Attribute{}, tmpl...)}, &wire.FindObjectsInitResponse{}); err != nil {
		a.t.Fatalf("C_FindObjectsInit: %v", err)
	}
	var all []uint64
	for {
		var r wire.FindObjectsResponse
		if err := a.c.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: s, MaxObjectCount: 2}, &r); err != nil {
			a.t.Fatalf("C_FindObjects: %v", err)
		}
		if len(r.Objects) == 0 {
			break
		}
		all = append(all, r.Objects...)
	}
	a.c.Call(wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: s}, &wire.FindObjectsFinalResponse{})
	return all
}

func (a *app) sign(s, key uint64) error {
	if err := a.c.Call(wire.CallSignInit, &wire.SignInitRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: key}, &wire.SignInitResponse{}); err != nil {
		return err
	}
	return a.c.Call(wire.CallSign, &wire.SignRequest{Session: s, Data: make([]byte, 32)}, &wire.SignResponse{})
}

func (a *app) createData(s uint64, label string, token, private bool) (uint64, error) {
	var r wire.CreateObjectResponse
	err := a.c.Call(wire.CallCreateObject, &wire.CreateObjectRequest{Session: s, Template: []wire.Attribute{
		{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_DATA},
		{Type: wire.CKA_TOKEN, Kind: wire.AttrBool, Bool: token},
		{Type: wire.CKA_PRIVATE, Kind: wire.AttrBool, Bool: private},
		{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte(label)},
	}}, &r)
	return r.Object, err
}

func label(l string) wire.Attribute {
	return wire.Attribute{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte(l)}
}

var privateKeys = wire.Attribute{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_PRIVATE_KEY}

func want(t *testing.T, what string, err, rv error) {
	t.Helper()
	if rv == nil && err != nil || rv != nil && !errors.Is(err, rv) {
		t.Errorf("%s: %v, want %v", what, err, rv)
	}
}

// TestTwoApplications: two connections on one token, one logged in and
// one not, each sees exactly what it would see with SoftHSM2 loaded alone,
// whatever the isolation.
func TestTwoApplications(t *testing.T) {
	for _, iso := range []string{"process", "shared", "inprocess", quickShared, handoff} {
		t.Run(iso, func(t *testing.T) {
			_, b := setup(t, iso, "")
			a, o := connect(t, b), connect(t, b)
			as, bs := a.open(false), o.open(true)
			want(t, "A logs in", a.login(as, userPIN), nil)
			if st, err := a.state(as); err != nil || st != wire.CKS_RO_USER_FUNCTIONS {
				t.Errorf("A's session state %d (%v), want CKS_RO_USER_FUNCTIONS", st, err)
			}
			if st, err := o.state(bs); err != nil || st != wire.CKS_RW_PUBLIC_SESSION {
				t.Errorf("B's session state %d (%v), want CKS_RW_PUBLIC_SESSION: A's login is not B's", st, err)
			}
			keys := a.find(as, privateKeys)
			if len(keys) != 1 {
				t.Fatalf("A finds %d private keys, want 1", len(keys))
			}
			if n := len(o.find(bs, privateKeys)); n != 0 {
				t.Errorf("B, not logged in, finds %d private keys, want none", n)
			}
			if n := len(o.find(bs)); n != 1 {
				t.Errorf("B, not logged in, finds %d objects, want the public key alone", n)
			}
			_, err := o.createData(bs, "b-private", false, true)
			want(t, "B creates a private object without a login", err, wire.CKR_USER_NOT_LOGGED_IN)
			want(t, "B logs in with a wrong PIN", o.login(bs, "wrong-pin"), wire.CKR_PIN_INCORRECT)
			want(t, "A signs", a.sign(as, keys[0]), nil)

			// Session objects belong to the application that made them.
			_, err = a.createData(as, "a-session", false, false)
			want(t, "A creates a session object", err, nil)
			if n := len(a.find(as, label("a-session"))); n != 1 {
				t.Errorf("A finds its session object %d times, want 1", n)
			}
			if n := len(o.find(bs, label("a-session"))); n != 0 {
				t.Errorf("B finds A's session object %d times, want 0", n)
			}

			// B's login and logout are B's.
			want(t, "B logs in", o.login(bs, userPIN), nil)
			if n := len(o.find(bs, privateKeys)); n != 1 {
				t.Errorf("B, logged in, finds %d private keys, want 1", n)
			}
			want(t, "B logs out", o.logout(bs), nil)
			want(t, "B logs out again (SoftHSM2: CKR_OK)", o.logout(bs), nil)
			want(t, "A signs after B's logout", a.sign(as, keys[0]), nil)
			want(t, "A logs in again", a.login(as, userPIN), wire.CKR_USER_ALREADY_LOGGED_IN)

			// C_CloseAllSessions ends B's sessions, not A's.
			want(t, "B closes all its sessions", o.c.Call(wire.CallCloseAllSessions, &wire.CloseAllSessionsRequest{SlotID: o.slot}, &wire.CloseAllSessionsResponse{}), nil)
			want(t, "A signs after B's C_CloseAllSessions", a.sign(as, keys[0]), nil)
			_, err = o.state(bs)
			want(t, "B's closed session", err, wire.CKR_SESSION_HANDLE_INVALID)

			// A's last session closing ends A's login.
			want(t, "A closes its session", a.c.Call(wire.CallCloseSession, &wire.CloseSessionRequest{Session: as}, &wire.CloseSessionResponse{}), nil)
			as = a.open(false)
			if st, err := a.state(as); err != nil || st != wire.CKS_RO_PUBLIC_SESSION {
				t.Errorf("A's new session state %d (%v), want CKS_RO_PUBLIC_SESSION", st, err)
			}
		})
	}
}

// TestSharedOnly: what only a shared instance does, with the codes the
// issue names: wrong PINs lock an identity out, and PIN changes need the
// token to themselves; an application that goes away leaves nothing open.
func TestSharedOnly(t *testing.T) {
	for _, iso := range []string{"shared", "inprocess", quickShared, handoff} {
		t.Run(iso, func(t *testing.T) {
			limit := 3 // quick mode: config.DefaultMaxPINFailures
			if iso == quickShared {
				limit = 10
			}
			_, b := setup(t, iso, fmt.Sprintf("max_pin_failures = %d", limit))
			a, o := connect(t, b), connect(t, b)
			as, bs := a.open(true), o.open(true)
			want(t, "A logs in", a.login(as, userPIN), nil)
			set := func(c *app, s uint64) error {
				return c.c.Call(wire.CallSetPIN, &wire.SetPINRequest{Session: s, OldPin: wire.PIN(userPIN), NewPin: wire.PIN(userPIN)}, &wire.SetPINResponse{})
			}
			want(t, "B's C_SetPIN while A has sessions", set(o, bs), wire.CKR_SESSION_EXISTS)
			a.c.Close() // A goes away: its sessions and its login end at once
			deadline := time.Now().Add(5 * time.Second)
			for err := set(o, bs); errors.Is(err, wire.CKR_SESSION_EXISTS) && time.Now().Before(deadline); err = set(o, bs) {
				time.Sleep(20 * time.Millisecond)
			}
			want(t, "B's C_SetPIN once A is gone", set(o, bs), nil)
			if st, err := o.state(bs); err != nil || st != wire.CKS_RW_PUBLIC_SESSION {
				t.Errorf("B's state %d (%v) after A left: A's login must not stay", st, err)
			}

			c := connect(t, b)
			cs := c.open(false)
			want(t, "C logs in", c.login(cs, userPIN), nil)
			// The token is logged in: B's wrong PINs never reach it.
			for i := 0; i < limit; i++ {
				want(t, "B's wrong PIN", o.login(bs, "wrong-pin"), wire.CKR_PIN_INCORRECT)
			}
			want(t, "B's right PIN after too many wrong ones", o.login(bs, userPIN), wire.CKR_PIN_LOCKED)
			if !strings.Contains(b.log(), "identity locked out") {
				t.Error("the lockout is not in the broker's log")
			}
			if strings.Contains(b.log(), userPIN) || strings.Contains(b.log(), "wrong-pin") {
				t.Error("a PIN reached the broker's log")
			}
			var ti wire.GetTokenInfoResponse
			if err := c.c.Call(wire.CallGetTokenInfo, &wire.GetTokenInfoRequest{SlotID: c.slot}, &ti); err != nil || ti.Info.Flags&wire.CKF_USER_PIN_COUNT_LOW != 0 {
				t.Errorf("token info %v, flags %#x: the token must not have seen the wrong PINs", err, ti.Info.Flags)
			}
		})
	}
}

// TestSharedWorkerCrash: the shared worker is killed; its clients' calls
// fail (never hang), the worker comes back, and new sessions work. Every
// connection shares the one worker. In config mode the broker holds the
// connections and they stay; in quick mode and with handoff the worker
// held them, and a client connects again.
func TestSharedWorkerCrash(t *testing.T) {
	for _, iso := range []string{"shared", quickShared, handoff} {
		t.Run(iso, func(t *testing.T) {
			_, b := setup(t, iso, "")
			a, o := connect(t, b), connect(t, b)
			as := a.open(false)
			want(t, "A logs in", a.login(as, userPIN), nil)
			o.open(false)
			pids := regexp.MustCompile(`"worker":(\d+)[^\n]*"message":"(shared )?worker started"`).FindAllStringSubmatch(b.log(), -1)
			if len(pids) != 1 {
				t.Fatalf("%d workers started for two connections, want the one shared worker", len(pids))
			}
			pid, _ := strconv.Atoi(pids[0][1])
			syscall.Kill(pid, syscall.SIGKILL)
			waitLog(t, b, regexp.MustCompile(fmt.Sprintf(`"why":"crashed: killed"[^\n]*"worker":%d,`, pid)))
			_, err := a.state(as)
			if err == nil {
				t.Fatal("a session of the killed worker still answers")
			}
			if iso == quickShared || iso == handoff {
				a = connect(t, b)
			}
			s := a.open(false)
			if st, err := a.state(s); err != nil || st != wire.CKS_RO_PUBLIC_SESSION {
				t.Errorf("a new session after the restart: state %d (%v), want CKS_RO_PUBLIC_SESSION", st, err)
			}
			want(t, "A logs in on the new worker", a.login(s, userPIN), nil)
		})
	}
}

// waitLog waits up to 5 s for re in the broker's log.
func waitLog(t *testing.T, b *server, re *regexp.Regexp) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !re.MatchString(b.log()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the broker's log:\n%s", re, harness.Tail(b.log(), 20))
		}
	}
}

// TestPkcs11Tool: a real client signs through a shared instance while
// another application holds the token's login.
func TestPkcs11Tool(t *testing.T) {
	for _, iso := range []string{"shared", quickShared, handoff} {
		t.Run(iso, func(t *testing.T) { pkcs11Tool(t, iso) })
	}
}

func pkcs11Tool(t *testing.T, iso string) {
	tok, b := setup(t, iso, "")
	a := connect(t, b)
	as := a.open(false)
	want(t, "A logs in", a.login(as, userPIN), nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("0123456789abcdef0123456789abcdef"), 0o600) // a SHA-256's length
	env := []string{"GOP11_BROKER=unix://" + b.sock}
	out, stderr, code := harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--token-label", "shared", "-O")
	if code != 0 || strings.Contains(out, "Private Key") {
		t.Errorf("pkcs11-tool -O without a login must not list the private key (exit %d):\n%s%s", code, out, stderr)
	}
	_, stderr, code = harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--token-label", "shared", "--login", "--pin", "wrong-pin", "-O")
	if code == 0 || !strings.Contains(stderr, "CKR_PIN_INCORRECT") {
		t.Errorf("pkcs11-tool with a wrong PIN: exit %d\n%s", code, stderr)
	}
	sig := filepath.Join(dir, "sig")
	_, stderr, code = harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--token-label", "shared", "--login", "--pin", userPIN,
		"--sign", "-m", "ECDSA", "--id", "01", "-i", in, "-o", sig)
	if code != 0 {
		t.Fatalf("pkcs11-tool --sign: exit %d\n%s", code, stderr)
	}
	_, stderr, code = harness.Run(t, tok.Env(), "pkcs11-tool", "--module", softhsm, "--token-label", "shared",
		"--verify", "-m", "ECDSA", "--id", "01", "-i", in, "--signature-file", sig)
	if code != 0 {
		t.Errorf("the signature does not verify on SoftHSM2 directly: %s", stderr)
	}
	want(t, "A's login after pkcs11-tool came and went", a.sign(as, a.find(as, privateKeys)[0]), nil)
}

// TestSessionPool: a module that allows 16 sessions (the fault module's
// cap, as an HSM partition's) serves 200 client sessions signing at once
// with no error, with max_real_sessions = 16. A session that made a
// session object keeps its real session through it all. Without the
// pool, the 17th session fails: the cap is real.
func TestSessionPool(t *testing.T) {
	for _, iso := range []string{"shared", "inprocess", quickShared, handoff} {
		t.Run(iso, func(t *testing.T) { sessionPool(t, iso) })
	}
}

func sessionPool(t *testing.T, iso string) {
	fault := harness.FaultModule(t)
	start := func(pooled bool) *server {
		tok := newToken(t)
		if iso == quickShared {
			t.Setenv(harness.FaultMaxSessionsEnv, "16") // the broker's, and so its worker's
			args := []string{"--module", fault, "--isolation", "shared"}
			if pooled {
				args = append(args, "--max-real-sessions", "16")
			}
			b := harness.StartBroker(t, tok, args...)
			n, _ := strconv.ParseUint(tok.Slot, 10, 64)
			return &server{sock: b.Socket, slot: n, log: b.Log}
		}
		extra := ""
		if pooled {
			extra = "max_real_sessions = 16"
		}
		isolation, extra := moduleKeys(iso, extra)
		b := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
			harness.ModuleTOML("capped", fault, isolation, extra, map[string]string{"SOFTHSM2_CONF": tok.Conf, harness.FaultMaxSessionsEnv: "16"})+
			harness.TokenTOML("capped", "pkcs11:token=shared", slot), nil)
		return &server{sock: b.Sock, slot: slot, log: b.Log}
	}

	// Without the pool: the module's cap shows.
	b := start(false)
	c := connect(t, b)
	var err error
	for i := 0; i < 17 && err == nil; i++ {
		var r wire.OpenSessionResponse
		err = c.c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: c.slot, Flags: wire.CKF_SERIAL_SESSION}, &r)
	}
	want(t, "the 17th session without a pool", err, wire.CKR_SESSION_COUNT)

	b = start(true)
	owner := connect(t, b)
	ks := owner.open(true)
	want(t, "login", owner.login(ks, userPIN), nil)
	_, err = owner.createData(ks, "kept", false, false)
	want(t, "a session object", err, nil)
	key := owner.find(ks, privateKeys)
	if len(key) != 1 {
		t.Fatalf("private keys: %v", key)
	}

	const conns, perConn, rounds = 4, 50, 3
	errs := make(chan error, conns*perConn)
	for i := 0; i < conns; i++ {
		a := connect(t, b)
		s0 := a.open(false)
		want(t, "login", a.login(s0, userPIN), nil)
		k := a.find(s0, privateKeys)[0]
		for j := 0; j < perConn; j++ {
			s := a.open(false)
			go func() {
				var err error
				for r := 0; r < rounds && err == nil; r++ {
					err = a.sign(s, k)
				}
				errs <- err
			}()
		}
	}
	failed := 0
	for i := 0; i < conns*perConn; i++ {
		if err := <-errs; err != nil {
			if failed++; failed <= 3 {
				t.Errorf("a signer: %v", err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d signers failed", failed, conns*perConn)
	}
	if n := len(owner.find(ks, label("kept"))); n != 1 {
		t.Errorf("the session object is found %d times after the signers, want 1: its real session must be kept", n)
	}
	want(t, "the owner signs", owner.sign(ks, key[0]), nil)
}

// TestConnectRightAfterCrash: a client that connects the moment the
// worker that serves every connection dies (before the broker has reaped
// it) is served by a new worker, not refused.
func TestConnectRightAfterCrash(t *testing.T) {
	for _, iso := range []string{quickShared, handoff} {
		t.Run(iso, func(t *testing.T) {
			_, b := setup(t, iso, "")
			started := regexp.MustCompile(`"worker":(\d+)[^\n]*"message":"shared worker started"`)
			for i := 0; i < 5; i++ {
				a := connect(t, b)
				a.open(false)
				m := started.FindAllStringSubmatch(b.log(), -1)
				pid, _ := strconv.Atoi(m[len(m)-1][1])
				syscall.Kill(pid, syscall.SIGKILL)
				c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.sock}, wire.ClientConfig{})
				if err != nil {
					t.Fatalf("round %d: a client connecting as worker %d died: %v", i, pid, err)
				}
				(&app{t: t, c: c, slot: b.slot}).open(false)
				c.Close()
				a.c.Close()
			}
		})
	}
}

// TestWorkerCannotLoad: when the worker that would serve every
// connection cannot load the module, a client is refused with the reason
// (not left an end of file), and the broker goes on.
func TestWorkerCannotLoad(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "libbroken.so")
	os.WriteFile(broken, []byte("not a shared library"), 0o755)
	for _, iso := range []string{quickShared, handoff} {
		t.Run(iso, func(t *testing.T) {
			tok := newToken(t)
			var sock string
			if iso == quickShared {
				sock = harness.StartBroker(t, tok, "--module", broken, "--isolation", "shared").Socket
			} else {
				sock = harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
					harness.ModuleTOML("broken", broken, "shared", "handoff = true", nil)+
					harness.TokenTOML("broken", "pkcs11:token=shared", slot), nil).Sock
			}
			for i := 0; i < 2; i++ {
				c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: sock}, wire.ClientConfig{})
				if err == nil {
					c.Close()
					t.Fatal("a client was served by a module that cannot load")
				}
				if !errors.Is(err, wire.ErrRefused) || !strings.Contains(err.Error(), "libbroken.so") {
					t.Errorf("connection %d: %v, want a refusal naming the module", i, err)
				}
			}
		})
	}
}
