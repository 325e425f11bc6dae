package core

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
	"github.com/miekg/pkcs11"
)

// These tests load build/libgop11.so into this test process (a second Go
// runtime; see shared notes) through miekg/pkcs11, as a Go application
// would. A library is loaded once per process and reads its environment
// when loaded, so TestMain points GOP11_CONFIG at a file each test rewrites
// before its C_Initialize.

var (
	moduleDir  string
	configPath string
	moduleLog  string
	p11        *pkcs11.Ctx
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gop11-core-")
	if err != nil {
		panic(err)
	}
	moduleDir = dir
	configPath = filepath.Join(dir, "client.toml")
	moduleLog = filepath.Join(dir, "module.log")
	os.Unsetenv("GOP11_BROKER")
	os.Setenv("GOP11_CONFIG", configPath)
	os.Setenv("GOP11_LOG", moduleLog)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// loadModule loads build/libgop11.so once and points it at endpoint.
func loadModule(t *testing.T, endpoint, timeout string) *pkcs11.Ctx {
	t.Helper()
	harness.RequireBuild(t)
	cfg := fmt.Sprintf("broker = %q\ndial_timeout = %q\n", endpoint, timeout)
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if p11 == nil {
		p11 = pkcs11.New(harness.Module())
		if p11 == nil {
			t.Fatalf("cannot load %s", harness.Module())
		}
	}
	return p11
}

func rvOf(err error) pkcs11.Error {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return e
	}
	if err == nil {
		return pkcs11.CKR_OK
	}
	return pkcs11.Error(0xFFFFFFFF)
}

// Issue item 6: C_Initialize and C_Finalize as the spec says.
func TestInitializeFinalize(t *testing.T) {
	tok := harness.NewToken(t, "init", "1234", "123456")
	b := harness.StartBroker(t, tok)
	p := loadModule(t, b.Endpoint(), "5s")
	if _, err := p.GetInfo(); rvOf(err) != pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Errorf("C_GetInfo before C_Initialize: %v", err)
	}
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	if err := p.Initialize(); rvOf(err) != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		t.Errorf("second C_Initialize: %v", err)
	}
	if _, err := p.GetInfo(); err != nil {
		t.Errorf("C_GetInfo: %v", err)
	}
	if err := p.Finalize(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetSlotList(true); rvOf(err) != pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Errorf("C_GetSlotList after C_Finalize: %v", err)
	}
	if err := p.Finalize(); rvOf(err) != pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Errorf("second C_Finalize: %v", err)
	}
	if err := p.Initialize(); err != nil {
		t.Fatalf("C_Initialize after C_Finalize: %v", err)
	}
	if slots, err := p.GetSlotList(true); err != nil || len(slots) == 0 {
		t.Errorf("slots after re-initialize: %v %v", slots, err)
	}
	p.Finalize()
	if b.Calls()["C_GetSlotList"] == 0 {
		t.Error("the broker's log does not show the calls")
	}
}

// Issue item 7: an unreachable broker fails C_Initialize with
// CKR_DEVICE_ERROR within the dial timeout and one log line naming it.
func TestBrokerUnreachable(t *testing.T) {
	missing := "unix://" + filepath.Join(moduleDir, "nobody-here.sock")
	silentPath := filepath.Join(moduleDir, "silent.sock")
	l, err := net.Listen("unix", silentPath)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // accepts and never answers the handshake
		var held []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	for _, tc := range []struct {
		name, endpoint string
		within         time.Duration
	}{
		{"no socket", missing, time.Second},
		{"silent broker", "unix://" + silentPath, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadModule(t, tc.endpoint, "1s")
			start := time.Now()
			err := p.Initialize()
			took := time.Since(start)
			if rvOf(err) != pkcs11.CKR_DEVICE_ERROR {
				p.Finalize()
				t.Fatalf("C_Initialize: %v, want CKR_DEVICE_ERROR", err)
			}
			if took > tc.within {
				t.Errorf("C_Initialize took %v, want under %v", took, tc.within)
			}
			log, _ := os.ReadFile(moduleLog)
			if !strings.Contains(string(log), "cannot reach the broker at "+tc.endpoint) {
				t.Errorf("module log does not name %s:\n%s", tc.endpoint, log)
			}
		})
	}
}

func loginSession(t *testing.T, p *pkcs11.Ctx, slot uint, pin string) pkcs11.SessionHandle {
	t.Helper()
	s, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Login(s, pkcs11.CKU_USER, pin); err != nil && rvOf(err) != pkcs11.CKR_USER_ALREADY_LOGGED_IN {
		t.Fatal(err)
	}
	return s
}

func ecKey(t *testing.T, p *pkcs11.Ctx, s pkcs11.SessionHandle, label string) pkcs11.ObjectHandle {
	t.Helper()
	p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	_, priv, err := p.GenerateKeyPair(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)},
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func sign(p *pkcs11.Ctx, s pkcs11.SessionHandle, key pkcs11.ObjectHandle) error {
	if err := p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, key); err != nil {
		return err
	}
	sig, err := p.Sign(s, make([]byte, 32))
	if err == nil && len(sig) != 64 {
		return fmt.Errorf("signature of %d bytes", len(sig))
	}
	return err
}

// Issue item 7: a broker restarted under a running application: old
// sessions answer CKR_SESSION_HANDLE_INVALID (or CKR_DEVICE_REMOVED for a
// call caught by the break); new sessions work without restarting it.
func TestBrokerRestart(t *testing.T) {
	tok := harness.NewToken(t, "restart", "1234", "123456")
	b := harness.StartBroker(t, tok)
	p := loadModule(t, b.Endpoint(), "2s")
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer p.Finalize()
	slot, _ := strconv.ParseUint(tok.Slot, 10, 64)
	s := loginSession(t, p, uint(slot), tok.PIN)
	key := ecKey(t, p, s, "survivor")
	if err := sign(p, s, key); err != nil {
		t.Fatal(err)
	}

	b.Kill()
	err := sign(p, s, key)
	if r := rvOf(err); r != pkcs11.CKR_DEVICE_REMOVED && r != pkcs11.CKR_SESSION_HANDLE_INVALID {
		t.Errorf("sign while the broker is down: %v", err)
	}
	if _, err := p.OpenSession(uint(slot), pkcs11.CKF_SERIAL_SESSION); rvOf(err) != pkcs11.CKR_DEVICE_ERROR {
		t.Errorf("C_OpenSession while the broker is down: %v, want CKR_DEVICE_ERROR", err)
	}

	b.Restart()
	if err := sign(p, s, key); rvOf(err) != pkcs11.CKR_SESSION_HANDLE_INVALID {
		t.Errorf("old session after the restart: %v, want CKR_SESSION_HANDLE_INVALID", err)
	}
	s2 := loginSession(t, p, uint(slot), tok.PIN)
	if err := p.FindObjectsInit(s2, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "survivor"),
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}); err != nil {
		t.Fatal(err)
	}
	found, _, err := p.FindObjects(s2, 2)
	p.FindObjectsFinal(s2)
	if err != nil || len(found) != 1 {
		t.Fatalf("finding the key after the restart: %v %v", found, err)
	}
	if err := sign(p, s2, found[0]); err != nil {
		t.Errorf("sign on a new session after the restart: %v", err)
	}
}

// Calls from many application threads run concurrently on one connection.
func TestConcurrentSigning(t *testing.T) {
	tok := harness.NewToken(t, "conc", "1234", "123456")
	b := harness.StartBroker(t, tok)
	p := loadModule(t, b.Endpoint(), "5s")
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer p.Finalize()
	slot, _ := strconv.ParseUint(tok.Slot, 10, 64)
	s := loginSession(t, p, uint(slot), tok.PIN)
	key := ecKey(t, p, s, "conc")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.OpenSession(uint(slot), pkcs11.CKF_SERIAL_SESSION)
			if err != nil {
				errs <- err
				return
			}
			defer p.CloseSession(s)
			for j := 0; j < 40; j++ {
				if err := sign(p, s, key); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := b.Results("C_Sign")["CKR_OK"]; n < 8*40 {
		t.Errorf("the broker logged %d successful C_Sign calls, want at least %d", n, 8*40)
	}
}

// fakeBroker shakes hands like a broker, then answers every call with
// reply (a whole frame, length included).
func fakeBroker(t *testing.T, reply []byte) string {
	t.Helper()
	path := filepath.Join(moduleDir, fmt.Sprintf("fake-%d.sock", time.Now().UnixNano()))
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := wire.ReadHello(c); err != nil {
					return
				}
				wire.WriteMsg(c, &wire.Welcome{Version: wire.ProtocolVersion, Broker: "fake"})
				s, err := wire.YamuxServer(c, nil)
				if err != nil {
					return
				}
				for {
					st, err := s.AcceptStream()
					if err != nil {
						return
					}
					go func() {
						if _, err := wire.ReadFrame(st, 1<<20); err == nil {
							st.Write(reply)
						}
					}()
				}
			}()
		}
	}()
	return "unix://" + path
}

// Issue item 11: a broken reply from the broker is CKR_DEVICE_ERROR for
// the call, never a crash of the application.
func TestBrokenReplyIsDeviceError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []byte
	}{
		{"not msgpack", []byte{0, 0, 0, 3, 0xc1, 0xc1, 0xc1}},
		{"wrong shape", []byte{0, 0, 0, 5, 0x92, 0x00, 0xa2, 'h', 'i'}}, // [CKR_OK, "hi"]
		{"oversized", []byte{0x7f, 0xff, 0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadModule(t, fakeBroker(t, tc.reply), "2s")
			if err := p.Initialize(); err != nil {
				t.Fatal(err)
			}
			defer p.Finalize()
			if _, err := p.GetInfo(); rvOf(err) != pkcs11.CKR_DEVICE_ERROR {
				t.Errorf("C_GetInfo with a broken reply: %v, want CKR_DEVICE_ERROR", err)
			}
		})
	}
}

// Issue item 4's aim: the spec's two calls (a size query, then the
// buffer) cost one round trip. miekg makes both C calls for C_Sign and
// C_GetAttributeValue; the broker sees one call each.
func TestTwoCallPatternIsOneRoundTrip(t *testing.T) {
	tok := harness.NewToken(t, "twocall", "1234", "123456")
	b := harness.StartBroker(t, tok)
	p := loadModule(t, b.Endpoint(), "5s")
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer p.Finalize()
	slot, _ := strconv.ParseUint(tok.Slot, 10, 64)
	s := loginSession(t, p, uint(slot), tok.PIN)
	key := ecKey(t, p, s, "twocall")
	const n = 5
	for i := 0; i < n; i++ {
		if err := sign(p, s, key); err != nil {
			t.Fatal(err)
		}
		attrs, err := p.GetAttributeValue(s, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
		if err != nil || string(attrs[0].Value) != "twocall" {
			t.Fatalf("C_GetAttributeValue: %v %v", attrs, err)
		}
	}
	b.Settle()
	for _, call := range []string{"C_Sign", "C_GetAttributeValue"} {
		if got := b.Calls()[call]; got != n {
			t.Errorf("%d application-level %s pairs reached the broker as %d calls, want %d (one round trip each)", n, call, got, n)
		}
	}
}
