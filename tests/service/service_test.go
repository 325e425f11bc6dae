// Package service tests the broker's config mode against real modules:
// token selection by URI, workers that crash or hang, reload, slot events.
package service

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// broker is a gop11-broker started with a config file.
type broker struct {
	t      *testing.T
	cfg    string // path of the config file
	socket string
	log    *bytes.Buffer
	mu     *sync.Mutex
	cmd    *exec.Cmd
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (b *broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// startBroker writes config (with %SOCKET% replaced) and starts the broker.
func startBroker(t *testing.T, config string) *broker {
	t.Helper()
	harness.RequireBuild(t)
	sockDir, err := os.MkdirTemp("", "gop11-svc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	b := &broker{t: t, socket: filepath.Join(sockDir, "b.sock"), log: new(bytes.Buffer), mu: new(sync.Mutex)}
	b.cfg = filepath.Join(t.TempDir(), "broker.toml")
	b.write(config)
	b.cmd = exec.Command(harness.BrokerBin(), "--config", b.cfg, "--log-level", "debug")
	b.cmd.Stdout, b.cmd.Stderr = syncWriter{b.mu, b.log}, syncWriter{b.mu, b.log}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			if b.cmd.ProcessState == nil {
				b.cmd.Wait()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("broker did not stop within 10 s of SIGTERM")
			b.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", b.Log())
		}
	})
	// Ready means a handshake succeeds, not merely that the socket file
	// exists (it does between bind and listen).
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.socket}, wire.ClientConfig{DialTimeout: time.Second}); err == nil {
			c.Close()
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker socket did not appear; log:\n%s", b.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *broker) write(config string) {
	if err := os.WriteFile(b.cfg, []byte(strings.ReplaceAll(config, "%SOCKET%", b.socket)), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

func (b *broker) waitLog(substr string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(b.Log(), substr) {
		if time.Now().After(deadline) {
			b.t.Fatalf("broker log lacks %q within %v", substr, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *broker) dial() *wire.Client {
	b.t.Helper()
	c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.socket}, wire.ClientConfig{Program: b.t.Name()})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	return c
}

func rvOf(err error) wire.RV {
	if err == nil {
		return wire.CKR_OK
	}
	var rv wire.RV
	if errors.As(err, &rv) {
		return rv
	}
	return 0xFFFFFFFF
}

// session opens an R/W session on slot, logs in, and returns it.
func session(t *testing.T, c *wire.Client, slot uint64, pin string) uint64 {
	t.Helper()
	var s wire.OpenSessionResponse
	if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slot, Flags: wire.CKF_SERIAL_SESSION | wire.CKF_RW_SESSION}, &s); err != nil {
		t.Fatalf("C_OpenSession(slot %d): %v", slot, err)
	}
	err := c.Call(wire.CallLogin, &wire.LoginRequest{Session: s.Session, UserType: wire.CKU_USER, Pin: wire.PIN(pin)}, &wire.LoginResponse{})
	if err != nil && rvOf(err) != wire.CKR_USER_ALREADY_LOGGED_IN {
		t.Fatalf("C_Login: %v", err)
	}
	return s.Session
}

var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func ecKey(t *testing.T, c *wire.Client, s uint64, label string) uint64 {
	t.Helper()
	attr := func(typ uint64, v bool) wire.Attribute {
		return wire.Attribute{Type: typ, Kind: wire.AttrBool, Bool: v}
	}
	lbl := wire.Attribute{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte(label)}
	var r wire.GenerateKeyPairResponse
	err := c.Call(wire.CallGenerateKeyPair, &wire.GenerateKeyPairRequest{Session: s,
		Mechanism:          wire.Mechanism{Type: wire.CKM_EC_KEY_PAIR_GEN},
		PublicKeyTemplate:  []wire.Attribute{attr(wire.CKA_TOKEN, true), {Type: wire.CKA_EC_PARAMS, Kind: wire.AttrBytes, Bytes: p256}, lbl},
		PrivateKeyTemplate: []wire.Attribute{attr(wire.CKA_TOKEN, true), attr(wire.CKA_SIGN, true), attr(wire.CKA_PRIVATE, true), lbl},
	}, &r)
	if err != nil {
		t.Fatalf("C_GenerateKeyPair: %v", err)
	}
	return r.PrivateKey
}

func findKey(t *testing.T, c *wire.Client, s uint64, label string) uint64 {
	t.Helper()
	tmpl := []wire.Attribute{{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte(label)},
		{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_PRIVATE_KEY}}
	if err := c.Call(wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s, Template: tmpl}, &wire.FindObjectsInitResponse{}); err != nil {
		t.Fatal(err)
	}
	var r wire.FindObjectsResponse
	if err := c.Call(wire.CallFindObjects, &wire.FindObjectsRequest{Session: s, MaxObjectCount: 2}, &r); err != nil {
		t.Fatal(err)
	}
	c.Call(wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: s}, &wire.FindObjectsFinalResponse{})
	if len(r.Objects) != 1 {
		t.Fatalf("found %d keys labelled %q, want 1", len(r.Objects), label)
	}
	return r.Objects[0]
}

func sign(c *wire.Client, s, key uint64, data []byte) error {
	if err := c.Call(wire.CallSignInit, &wire.SignInitRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_ECDSA}, Key: key}, &wire.SignInitResponse{}); err != nil {
		return err
	}
	var r wire.SignResponse
	if err := c.Call(wire.CallSign, &wire.SignRequest{Session: s, Data: data}, &r); err != nil {
		return err
	}
	if len(r.Signature) != 64 {
		return fmt.Errorf("signature of %d bytes", len(r.Signature))
	}
	return nil
}

func digest(prefix string) []byte {
	d := make([]byte, 32)
	copy(d, prefix)
	return d
}

// signer signs in a loop on its own connection until stopped, counting.
type signer struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	done       chan struct{}
}

func startSigner(t *testing.T, b *broker, slot uint64, pin, label string) *signer {
	c := b.dial()
	s := session(t, c, slot, pin)
	key := ecKey(t, c, s, label)
	sg := &signer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sg.done)
		for {
			select {
			case <-sg.stop:
				return
			default:
			}
			if err := sign(c, s, key, digest("steady")); err != nil {
				if sg.failed.Add(1) == 1 {
					sg.firstErr.Store(err.Error())
				}
				continue
			}
			sg.ok.Add(1)
		}
	}()
	return sg
}

func (sg *signer) finish(t *testing.T) {
	t.Helper()
	close(sg.stop)
	<-sg.done
	if n := sg.failed.Load(); n > 0 {
		t.Errorf("the bystander saw %d failed signatures (first: %v)", n, sg.firstErr.Load())
	}
	if sg.ok.Load() == 0 {
		t.Error("the bystander made no signature at all")
	}
	t.Logf("bystander: %d signatures, %d failures", sg.ok.Load(), sg.failed.Load())
}

// Issue 4: a vendor module that crashes (abort, SIGSEGV) or hangs past its
// call timeout kills only that client's worker: the call answers
// CKR_DEVICE_ERROR, the old session CKR_SESSION_HANDLE_INVALID, a new
// session works after the restart, the log says what happened, and
// another client on another module signs throughout without an error.
func TestWorkerCrashAndHang(t *testing.T) {
	tok := harness.NewToken(t, "steady", "1234", "123456")
	fault := tok.AddToken(t, "fault", "1234", "123456")
	fm := harness.FaultModule(t)
	b := startBroker(t, fmt.Sprintf(`
listen = ["unix://%%SOCKET%%"]

[[module]]
name = "softhsm"
path = %q
[module.env]
SOFTHSM2_CONF = %q

[[module]]
name = "faulty"
path = %q
call_timeout = "2s"
[module.env]
SOFTHSM2_CONF = %q
FAULTMOD_TARGET = %q

[[token]]
module = "softhsm"
uri = "pkcs11:token=steady"
slot = 1

[[token]]
module = "faulty"
uri = "pkcs11:token=fault"
slot = 2
`, harness.SoftHSM, tok.Conf, fm, fault.Conf, harness.SoftHSM))

	bystander := startSigner(t, b, 1, tok.PIN, "steady-key")
	c := b.dial()
	s := session(t, c, 2, fault.PIN)
	key := ecKey(t, c, s, "victim")
	if err := sign(c, s, key, digest("normal")); err != nil {
		t.Fatalf("a normal signature through the fault module: %v", err)
	}
	for _, tc := range []struct{ trigger, logs string }{
		{"gop11-crash", "crashed: SIGABRT"},
		{"gop11-segv", "crashed: SIGSEGV"},
		{"gop11-hang", "hung: C_Sign ran over the call timeout of 2s"},
	} {
		t.Run(tc.trigger, func(t *testing.T) {
			start := time.Now()
			if err := sign(c, s, key, digest(tc.trigger)); rvOf(err) != wire.CKR_DEVICE_ERROR {
				t.Fatalf("the faulting call: %v, want CKR_DEVICE_ERROR", err)
			}
			t.Logf("%s answered after %v", tc.trigger, time.Since(start).Round(time.Millisecond))
			b.waitLog(tc.logs, 5*time.Second)
			if err := sign(c, s, key, digest("again")); rvOf(err) != wire.CKR_SESSION_HANDLE_INVALID {
				t.Errorf("the old session after the worker died: %v, want CKR_SESSION_HANDLE_INVALID", err)
			}
			restart := time.Now()
			s = session(t, c, 2, fault.PIN)
			t.Logf("a new session worked %v after the failure was reported", time.Since(restart).Round(time.Millisecond))
			key = findKey(t, c, s, "victim")
			if err := sign(c, s, key, digest("after")); err != nil {
				t.Errorf("signing after the restart: %v", err)
			}
		})
	}
	bystander.finish(t)
}

func twoTokenConfig(tok *harness.Token, tokens string) string {
	return fmt.Sprintf(`
listen = ["unix://%%SOCKET%%"]

[[module]]
name = "softhsm"
path = %q
[module.env]
SOFTHSM2_CONF = %q
%s`, harness.SoftHSM, tok.Conf, tokens)
}

const alphaOnly = `
[[token]]
module = "softhsm"
uri = "pkcs11:token=alpha"
slot = 10
`

// Issue 4: only the tokens a URI selects are served, under their
// configured slot IDs; SIGHUP adds a token while a client keeps signing
// on another with no error; the new slot is a slot event; an invalid new
// config is logged and the running one kept.
func TestReloadAddsTokenWhileSigning(t *testing.T) {
	tok := harness.NewToken(t, "alpha", "1234", "123456")
	tok.AddToken(t, "beta", "1234", "123456")
	b := startBroker(t, twoTokenConfig(tok, alphaOnly))
	watcher := b.dial()
	slots := func() []uint64 {
		var r wire.GetSlotListResponse
		if err := watcher.Call(wire.CallGetSlotList, &wire.GetSlotListRequest{TokenPresent: true}, &r); err != nil {
			t.Fatal(err)
		}
		return r.SlotList
	}
	if got := slots(); fmt.Sprint(got) != "[10]" {
		t.Fatalf("slots %v, want [10]: only alpha is selected", got)
	}
	var ti wire.GetTokenInfoResponse
	if err := watcher.Call(wire.CallGetTokenInfo, &wire.GetTokenInfoRequest{SlotID: 10}, &ti); err != nil || strings.TrimSpace(ti.Info.Label) != "alpha" {
		t.Fatalf("slot 10 holds %q (%v), want alpha", ti.Info.Label, err)
	}
	if err := watcher.Call(wire.CallWaitForSlotEvent, &wire.WaitForSlotEventRequest{Flags: wire.CKF_DONT_BLOCK}, &wire.WaitForSlotEventResponse{}); rvOf(err) != wire.CKR_NO_EVENT {
		t.Errorf("C_WaitForSlotEvent before any change: %v, want CKR_NO_EVENT", err)
	}

	signing := startSigner(t, b, 10, tok.PIN, "alpha-key")
	time.Sleep(200 * time.Millisecond)
	b.write(twoTokenConfig(tok, alphaOnly+`
[[token]]
module = "softhsm"
uri = "pkcs11:token=beta"
slot = 20
`))
	b.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(15 * time.Second)
	for fmt.Sprint(slots()) != "[10 20]" {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP the slots are %v, want [10 20]", slots())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ev wire.WaitForSlotEventResponse
	if err := watcher.Call(wire.CallWaitForSlotEvent, &wire.WaitForSlotEventRequest{Flags: wire.CKF_DONT_BLOCK}, &ev); err != nil || ev.Slot != 20 {
		t.Errorf("C_WaitForSlotEvent after the reload: slot %d, %v; want slot 20", ev.Slot, err)
	}
	s := session(t, watcher, 20, tok.PIN)
	if err := sign(watcher, s, ecKey(t, watcher, s, "beta-key"), digest("beta")); err != nil {
		t.Errorf("signing on the added token: %v", err)
	}
	time.Sleep(200 * time.Millisecond)

	b.write("listen = [\"unix:///x.sock\"]\nbogus_key = 1\n")
	b.cmd.Process.Signal(syscall.SIGHUP)
	b.waitLog("reload: invalid config, keeping the running one", 10*time.Second)
	if !strings.Contains(b.Log(), "bogus_key") {
		t.Error("the reload error does not name the bad key")
	}
	if got := slots(); fmt.Sprint(got) != "[10 20]" {
		t.Errorf("after an invalid reload the slots are %v, want [10 20] kept", got)
	}
	signing.finish(t)
}

// --check-config: a good file exits 0; a bad one exits 2 naming file,
// line and key; the broker refuses to start with it.
func TestCheckConfig(t *testing.T) {
	harness.RequireBuild(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("listen = [\"unix:///tmp/x.sock\"]\n[[module]]\nname = \"s\"\npath = \""+harness.SoftHSM+"\"\n"), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("listen = [\"unix:///tmp/x.sock\"]\n[[module]]\nname = \"s\"\npathh = \"/x.so\"\n"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--check-config", good}, 0, "OK"},
		{[]string{"--check-config", bad}, 2, "bad.toml:4: module[0].pathh"},
		{[]string{"--config", bad}, 2, "bad.toml:4"},
	} {
		out, err := exec.Command(harness.BrokerBin(), tc.args...).CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != tc.code || !strings.Contains(string(out), tc.out) {
			t.Errorf("%v: exit %d, output %q; want exit %d and %q", tc.args, code, out, tc.code, tc.out)
		}
	}
}

// Issue 4: SIGTERM stops accepting, lets the call in flight finish,
// closes the client's sessions, finalizes every module and exits 0.
func TestSIGTERMLetsCallsFinish(t *testing.T) {
	tok := harness.NewToken(t, "term", "1234", "123456")
	b := startBroker(t, twoTokenConfig(tok, `
[[token]]
module = "softhsm"
uri = "pkcs11:token=term"
slot = 3
`))
	c := b.dial()
	s := session(t, c, 3, tok.PIN)
	done := make(chan error, 1)
	go func() {
		var r wire.GenerateKeyPairResponse
		done <- c.Call(wire.CallGenerateKeyPair, &wire.GenerateKeyPairRequest{Session: s,
			Mechanism: wire.Mechanism{Type: wire.CKM_RSA_PKCS_KEY_PAIR_GEN},
			PublicKeyTemplate: []wire.Attribute{{Type: wire.CKA_MODULUS_BITS, Kind: wire.AttrULong, ULong: 3072},
				{Type: wire.CKA_PUBLIC_EXPONENT, Kind: wire.AttrBytes, Bytes: []byte{1, 0, 1}}},
			PrivateKeyTemplate: []wire.Attribute{{Type: wire.CKA_SIGN, Kind: wire.AttrBool, Bool: true}},
		}, &r)
	}()
	b.waitLog(`"call":"C_Login"`, 5*time.Second)
	time.Sleep(50 * time.Millisecond) // the key generation is under way
	start := time.Now()
	b.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("the call in flight during SIGTERM: %v, want it to finish", err)
	}
	t.Logf("the call in flight finished %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if err := b.cmd.Wait(); err != nil {
		t.Errorf("broker exit: %v, want status 0", err)
	}
	for _, want := range []string{"PKCS #11 module finalized", `"message":"stopped"`} {
		if !strings.Contains(b.Log(), want) {
			t.Errorf("broker log lacks %q", want)
		}
	}
	if _, err := os.Stat(b.socket); err == nil {
		if c, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.socket}, wire.ClientConfig{DialTimeout: time.Second}); err == nil {
			c.Close()
			t.Error("the broker still accepts connections after SIGTERM")
		}
	}
}

// Issue 4: a blocking C_WaitForSlotEvent returns when a reload adds a
// token, and a client whose connection closes under it is not left hanging.
func TestBlockingSlotEvent(t *testing.T) {
	tok := harness.NewToken(t, "alpha", "1234", "123456")
	tok.AddToken(t, "beta", "1234", "123456")
	b := startBroker(t, twoTokenConfig(tok, alphaOnly))
	c := b.dial()
	got := make(chan error, 1)
	var ev wire.WaitForSlotEventResponse
	go func() {
		got <- c.Call(wire.CallWaitForSlotEvent, &wire.WaitForSlotEventRequest{}, &ev)
	}()
	select {
	case err := <-got:
		t.Fatalf("C_WaitForSlotEvent returned before any event: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	b.write(twoTokenConfig(tok, alphaOnly+`
[[token]]
module = "softhsm"
uri = "pkcs11:token=beta"
slot = 20
`))
	b.cmd.Process.Signal(syscall.SIGHUP)
	select {
	case err := <-got:
		if err != nil || ev.Slot != 20 {
			t.Errorf("C_WaitForSlotEvent: slot %d, %v; want slot 20", ev.Slot, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a blocking C_WaitForSlotEvent did not return after a reload added a token")
	}

	// A second waiter whose connection closes returns instead of hanging.
	c2 := b.dial()
	done := make(chan error, 1)
	go func() {
		done <- c2.Call(wire.CallWaitForSlotEvent, &wire.WaitForSlotEventRequest{}, &wire.WaitForSlotEventResponse{})
	}()
	time.Sleep(200 * time.Millisecond)
	c2.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("C_WaitForSlotEvent on a closed connection returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("C_WaitForSlotEvent hung after its connection closed")
	}
}

// A reload that leaves a module as it was, but moves it in the file (a
// module added above it), keeps that module's sessions working.
func TestReloadKeepsUnchangedModuleSessions(t *testing.T) {
	tok := harness.NewToken(t, "alpha", "1234", "123456")
	other := harness.NewToken(t, "other", "1234", "123456")
	b := startBroker(t, twoTokenConfig(tok, alphaOnly))
	c := b.dial()
	s := session(t, c, 10, tok.PIN)
	key := ecKey(t, c, s, "kept")
	if err := sign(c, s, key, digest("before")); err != nil {
		t.Fatal(err)
	}
	b.write(fmt.Sprintf(`
listen = ["unix://%%SOCKET%%"]

[[module]]
name = "another"
path = %q
[module.env]
SOFTHSM2_CONF = %q

[[token]]
module = "another"
uri = "pkcs11:token=other"
slot = 30
`, harness.SoftHSM, other.Conf) + strings.TrimPrefix(twoTokenConfig(tok, alphaOnly), "\nlisten = [\"unix://%SOCKET%\"]\n"))
	workersBefore := strings.Count(b.Log(), `"message":"worker started"`)
	b.cmd.Process.Signal(syscall.SIGHUP)
	b.waitLog(`"slots":2`, 15*time.Second)
	if err := sign(c, s, key, digest("after")); err != nil {
		t.Errorf("a session on the unchanged module after the reload: %v", err)
	}
	// Only the probes of the reload started workers: the session above
	// went on in the worker it had.
	if n := strings.Count(b.Log(), `"message":"worker started"`) - workersBefore; n != 2 {
		t.Errorf("%d workers started by the reload and the signature after it, want 2 (the probes)", n)
	}
	s30 := session(t, c, 30, other.PIN)
	if err := sign(c, s30, ecKey(t, c, s30, "new"), digest("new")); err != nil {
		t.Errorf("signing on the added module: %v", err)
	}
}

// isolation = "inprocess": the module is loaded in the broker and shared.
// Each connection still has its own handles, and its own login state
// (broker/shared; tests/shared covers the rest).
func TestInProcessModule(t *testing.T) {
	tok := harness.NewToken(t, "inproc", "1234", "123456")
	b := startBroker(t, fmt.Sprintf(`
listen = ["unix://%%SOCKET%%"]

[[module]]
name = "softhsm"
path = %q
isolation = "inprocess"
[module.env]
SOFTHSM2_CONF = %q

[[token]]
module = "softhsm"
uri = "pkcs11:token=inproc"
slot = 4
`, harness.SoftHSM, tok.Conf))
	a, other := b.dial(), b.dial()
	sa := session(t, a, 4, tok.PIN)
	key := ecKey(t, a, sa, "shared")
	if err := sign(a, sa, key, digest("inproc")); err != nil {
		t.Fatalf("signing through an in-process module: %v", err)
	}
	var so wire.OpenSessionResponse
	if err := other.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: 4, Flags: wire.CKF_SERIAL_SESSION}, &so); err != nil {
		t.Fatal(err)
	}
	if err := other.Call(wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: sa}, &wire.GetSessionInfoResponse{}); rvOf(err) != wire.CKR_SESSION_HANDLE_INVALID {
		t.Errorf("another client using A's session handle: %v, want CKR_SESSION_HANDLE_INVALID", err)
	}
	var info wire.GetSessionInfoResponse
	if err := other.Call(wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: so.Session}, &info); err != nil {
		t.Fatal(err)
	}
	if info.Info.State != wire.CKS_RO_PUBLIC_SESSION {
		t.Errorf("with a shared in-process module the other client's session is in state %d, want CKS_RO_PUBLIC_SESSION: A's login is A's", info.Info.State)
	}
	if strings.Contains(b.Log(), `"message":"worker started"`) {
		t.Error("an in-process module started a worker")
	}
}

// A member worker is started by whichever goroutine first needs it. On a
// lane that goroutine holds its thread (to run on the client's CPU), and
// the thread ends with the lane; a child started with Pdeathsig is killed
// when the thread that started it ends, so the broker starts workers from
// a goroutine that holds none. A worker ends by itself when its client
// leaves, with the sessions closed and the module finalized: the log says
// it exited, not that it was killed.
func TestMemberWorkerEndsCleanlyWithItsClient(t *testing.T) {
	tok := harness.NewToken(t, "clean", "1234", "123456")
	b := startBroker(t, twoTokenConfig(tok, "\n[[token]]\nmodule = \"softhsm\"\nuri = \"pkcs11:token=clean\"\nslot = 5\n"))
	c := b.dial()
	if !c.UsesLanes() {
		t.Fatal("the client has no lanes: this test is about workers started from a lane")
	}
	key := ecKey(t, c, session(t, c, 5, tok.PIN), "clean")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 4; i++ { // calls at once open more lanes
		s := session(t, c, 5, tok.PIN)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if err := sign(c, s, key, digest("clean")); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if !strings.Contains(b.Log(), `"lanes":true`) {
		t.Error("the member worker's calls do not go over lanes")
	}
	c.Close()
	program := fmt.Sprintf(`"program":%q`, t.Name()) // the probe's worker has none
	var exit string
	for deadline := time.Now().Add(10 * time.Second); exit == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the member worker did not exit within 10 s of its client leaving")
		}
		for _, line := range strings.Split(b.Log(), "\n") {
			if strings.Contains(line, program) && strings.Contains(line, `"message":"worker exited"`) {
				exit = line
			}
		}
	}
	if strings.Contains(exit, `"why"`) {
		t.Errorf("the member worker did not end by itself: %s", exit)
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d signatures failed", n)
	}
}
