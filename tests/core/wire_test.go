// Package core tests the proxy's own promises against a real broker in
// front of real SoftHSM2 tokens: per-connection handles and login state,
// cleanup when a client vanishes, protocol violations, and (module_test.go)
// libgop11.so's C_Initialize, restart and unreachable-broker behaviour.
package core

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
	"github.com/hashicorp/yamux"
)

func dial(t *testing.T, b *harness.Broker) *wire.Client {
	t.Helper()
	ep, err := wire.ParseEndpoint(b.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	c, err := wire.Dial(ep, wire.ClientConfig{Program: t.Name()})
	if err != nil {
		t.Fatalf("dial %s: %v", ep, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rv makes a call and returns its CK_RV; a transport error fails the test.
func rv(t *testing.T, c *wire.Client, id wire.CallID, req, resp wire.Message) wire.RV {
	t.Helper()
	err := c.Call(id, req, resp)
	if err == nil {
		return wire.CKR_OK
	}
	var r wire.RV
	if !errors.As(err, &r) {
		t.Fatalf("%v: %v", id, err)
	}
	return r
}

func must(t *testing.T, c *wire.Client, id wire.CallID, req, resp wire.Message) {
	t.Helper()
	if r := rv(t, c, id, req, resp); r != wire.CKR_OK {
		t.Fatalf("%v: %v", id, r)
	}
}

func slotOf(t *testing.T, tok *harness.Token) uint64 {
	s, err := strconv.ParseUint(tok.Slot, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t *testing.T, c *wire.Client, slot uint64) uint64 {
	t.Helper()
	var r wire.OpenSessionResponse
	must(t, c, wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slot, Flags: wire.CKF_SERIAL_SESSION | wire.CKF_RW_SESSION}, &r)
	if r.Session == 0 || r.Session > 0xFFFFFFFF {
		t.Fatalf("virtual session handle %#x: want non-zero, 32-bit", r.Session)
	}
	return r.Session
}

func state(t *testing.T, c *wire.Client, s uint64) uint64 {
	t.Helper()
	var r wire.GetSessionInfoResponse
	must(t, c, wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: s}, &r)
	return r.Info.State
}

func dataObject(label string, token, private bool) []wire.Attribute {
	return []wire.Attribute{
		{Type: wire.CKA_CLASS, Kind: wire.AttrULong, ULong: wire.CKO_DATA},
		{Type: wire.CKA_TOKEN, Kind: wire.AttrBool, Bool: token},
		{Type: wire.CKA_PRIVATE, Kind: wire.AttrBool, Bool: private},
		{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte(label)},
		{Type: wire.CKA_VALUE, Kind: wire.AttrBytes, Bytes: []byte("payload")},
	}
}

func find(t *testing.T, c *wire.Client, s uint64, label string) []uint64 {
	t.Helper()
	must(t, c, wire.CallFindObjectsInit, &wire.FindObjectsInitRequest{Session: s, Template: []wire.Attribute{
		{Type: wire.CKA_LABEL, Kind: wire.AttrBytes, Bytes: []byte(label)}}}, &wire.FindObjectsInitResponse{})
	var r wire.FindObjectsResponse
	must(t, c, wire.CallFindObjects, &wire.FindObjectsRequest{Session: s, MaxObjectCount: 100}, &r)
	must(t, c, wire.CallFindObjectsFinal, &wire.FindObjectsFinalRequest{Session: s}, &wire.FindObjectsFinalResponse{})
	return r.Objects
}

// Issue item 9: each connection has its own handles; one client's session
// objects are invisible to another; C_CloseAllSessions ends only the
// caller's sessions.
func TestHandlesAndObjectsArePerConnection(t *testing.T) {
	tok := harness.NewToken(t, "iso", "1234", "123456")
	b := harness.StartBroker(t, tok)
	slot := slotOf(t, tok)
	a, bc := dial(t, b), dial(t, b)
	sa, sb := open(t, a, slot), open(t, bc, slot)

	var obj wire.CreateObjectResponse
	must(t, a, wire.CallCreateObject, &wire.CreateObjectRequest{Session: sa, Template: dataObject("a-only", false, false)}, &obj)

	if r := rv(t, bc, wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: sa}, &wire.GetSessionInfoResponse{}); r != wire.CKR_SESSION_HANDLE_INVALID {
		t.Errorf("B using A's session handle: %v, want CKR_SESSION_HANDLE_INVALID", r)
	}
	if r := rv(t, bc, wire.CallGetObjectSize, &wire.GetObjectSizeRequest{Session: sb, Object: obj.Object}, &wire.GetObjectSizeResponse{}); r != wire.CKR_OBJECT_HANDLE_INVALID {
		t.Errorf("B using A's object handle: %v, want CKR_OBJECT_HANDLE_INVALID", r)
	}
	if got := find(t, bc, sb, "a-only"); len(got) != 0 {
		t.Errorf("B finds A's session object: %v", got)
	}
	if got := find(t, a, sa, "a-only"); len(got) != 1 || got[0] != obj.Object {
		t.Errorf("A finds its own session object as %v, want [%#x]", got, obj.Object)
	}
	must(t, bc, wire.CallCloseAllSessions, &wire.CloseAllSessionsRequest{SlotID: slot}, &wire.CloseAllSessionsResponse{})
	if r := rv(t, bc, wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: sb}, &wire.GetSessionInfoResponse{}); r != wire.CKR_SESSION_HANDLE_INVALID {
		t.Errorf("B's session after its C_CloseAllSessions: %v", r)
	}
	state(t, a, sa) // A's session survives B's C_CloseAllSessions
	if len(find(t, a, sa, "a-only")) != 1 {
		t.Error("A's session object is gone after B's C_CloseAllSessions")
	}
	if b.Calls()["C_CreateObject"] == 0 {
		t.Error("the broker's log does not show the calls")
	}
}

// Issue item 10: login state is per client.
func TestLoginIsPerClient(t *testing.T) {
	tok := harness.NewToken(t, "login", "1234", "123456")
	b := harness.StartBroker(t, tok)
	slot := slotOf(t, tok)
	a, bc := dial(t, b), dial(t, b)
	sa, sb := open(t, a, slot), open(t, bc, slot)

	must(t, a, wire.CallLogin, &wire.LoginRequest{Session: sa, UserType: wire.CKU_USER, Pin: wire.PIN(tok.PIN)}, &wire.LoginResponse{})
	must(t, a, wire.CallCreateObject, &wire.CreateObjectRequest{Session: sa, Template: dataObject("private-data", true, true)}, &wire.CreateObjectResponse{})
	if s := state(t, a, sa); s != wire.CKS_RW_USER_FUNCTIONS {
		t.Fatalf("A after login: state %d", s)
	}
	if s := state(t, bc, sb); s != wire.CKS_RW_PUBLIC_SESSION {
		t.Errorf("B is in state %d after A's login, want CKS_RW_PUBLIC_SESSION", s)
	}
	if got := find(t, bc, sb, "private-data"); len(got) != 0 {
		t.Errorf("B, not logged in, finds A's private object: %v", got)
	}
	if r := rv(t, bc, wire.CallLogin, &wire.LoginRequest{Session: sb, UserType: wire.CKU_USER, Pin: wire.PIN("0000")}, &wire.LoginResponse{}); r != wire.CKR_PIN_INCORRECT {
		t.Errorf("B's wrong PIN while A is logged in: %v, want CKR_PIN_INCORRECT", r)
	}
	must(t, bc, wire.CallLogin, &wire.LoginRequest{Session: sb, UserType: wire.CKU_USER, Pin: wire.PIN(tok.PIN)}, &wire.LoginResponse{})
	if got := find(t, bc, sb, "private-data"); len(got) != 1 {
		t.Errorf("B, logged in, finds %d private objects, want 1", len(got))
	}
	must(t, bc, wire.CallLogout, &wire.LogoutRequest{Session: sb}, &wire.LogoutResponse{})
	if s := state(t, a, sa); s != wire.CKS_RW_USER_FUNCTIONS {
		t.Errorf("A after B's logout: state %d, want still logged in", s)
	}
	if got := find(t, a, sa, "private-data"); len(got) != 1 {
		t.Errorf("A after B's logout finds %d private objects", len(got))
	}
}

// A client that vanishes mid-operation: its worker frees everything, the
// broker's log says so, and other clients keep working.
func TestClientVanishesMidOperation(t *testing.T) {
	tok := harness.NewToken(t, "vanish", "1234", "123456")
	b := harness.StartBroker(t, tok)
	slot := slotOf(t, tok)
	other := dial(t, b)
	so := open(t, other, slot)

	a := dial(t, b)
	sa := open(t, a, slot)
	must(t, a, wire.CallLogin, &wire.LoginRequest{Session: sa, UserType: wire.CKU_USER, Pin: wire.PIN(tok.PIN)}, &wire.LoginResponse{})
	must(t, a, wire.CallDigestInit, &wire.DigestInitRequest{Session: sa, Mechanism: wire.Mechanism{Type: wire.CKM_SHA256}}, &wire.DigestInitResponse{})
	must(t, a, wire.CallDigestUpdate, &wire.DigestUpdateRequest{Session: sa, Part: []byte("half")}, &wire.DigestUpdateResponse{})
	a.Close()

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.Log(), "client gone: closed its sessions") {
		if time.Now().After(deadline) {
			t.Fatalf("the broker's log never said the vanished client's sessions were closed:\n%s", b.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := state(t, other, so); s != wire.CKS_RW_PUBLIC_SESSION {
		t.Errorf("the other client's session: state %d (the vanished client's login must have gone with it)", s)
	}
}

// Issue item 11: protocol violations drop that connection, with a log
// line, and the broker keeps serving everyone else.
func TestProtocolViolationsDropOnlyThatConnection(t *testing.T) {
	tok := harness.NewToken(t, "proto", "1234", "123456")
	b := harness.StartBroker(t, tok)
	good := dial(t, b)

	raw := func(t *testing.T) net.Conn {
		c, err := net.Dial("unix", b.Socket)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(15 * time.Second))
		return c
	}
	// handshaken returns a yamux stream on a connection past the handshake.
	handshaken := func(t *testing.T) (*yamux.Session, net.Conn) {
		c := raw(t)
		if err := wire.WriteMsg(c, &wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, Program: "evil"}); err != nil {
			t.Fatal(err)
		}
		if _, err := wire.ReadWelcome(c); err != nil {
			t.Fatal(err)
		}
		s, err := yamux.Client(c, wire.YamuxConfig(nil))
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		return s, st
	}
	frame := func(body ...byte) []byte {
		return append([]byte{0, 0, 0, byte(len(body))}, body...)
	}
	for _, tc := range []struct {
		name, logs string
		send       func(t *testing.T) (io.Reader, *yamux.Session)
	}{
		{"not gop11", "handshake failed", func(t *testing.T) (io.Reader, *yamux.Session) {
			c := raw(t)
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			return c, nil
		}},
		{"wrong version", "handshake failed", func(t *testing.T) (io.Reader, *yamux.Session) {
			c := raw(t)
			wire.WriteMsg(c, &wire.Hello{Magic: wire.Magic, Version: 99})
			if _, err := wire.ReadWelcome(c); err == nil || !strings.Contains(err.Error(), "version") {
				t.Errorf("wrong version: welcome says %v", err)
			}
			return c, nil
		}},
		{"oversized frame", "frame over the size limit", func(t *testing.T) (io.Reader, *yamux.Session) {
			s, st := handshaken(t)
			st.Write([]byte{0x7f, 0xff, 0xff, 0xff})
			return st, s
		}},
		{"malformed body", "malformed message", func(t *testing.T) (io.Reader, *yamux.Session) {
			s, st := handshaken(t)
			st.Write(frame(0x92, 44, 0xa3, 'b', 'a', 'd')) // [C_Sign, "bad"]
			return st, s
		}},
		{"unknown call", "unknown call ID", func(t *testing.T) (io.Reader, *yamux.Session) {
			s, st := handshaken(t)
			st.Write(frame(0x92, 0xcd, 0x03, 0xe7, 0x90)) // [999, []]
			return st, s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, s := tc.send(t)
			buf := make([]byte, 64)
			for {
				if _, err := r.Read(buf); err != nil {
					break // dropped (EOF, reset or stream closed)
				}
			}
			if s != nil {
				deadline := time.Now().Add(5 * time.Second)
				for !s.IsClosed() && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if !s.IsClosed() {
					t.Error("the connection was not dropped")
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(b.Log(), tc.logs) {
				if time.Now().After(deadline) {
					t.Fatalf("broker log lacks %q", tc.logs)
				}
				time.Sleep(10 * time.Millisecond)
			}
			var info wire.GetInfoResponse
			must(t, good, wire.CallGetInfo, &wire.GetInfoRequest{}, &info)
		})
	}
}

// Each client costs a worker process, so --max-clients bounds them: the
// next client is refused with a reason and a log line, and a slot frees
// up when a client leaves.
func TestMaxClients(t *testing.T) {
	tok := harness.NewToken(t, "max", "1234", "123456")
	b := harness.StartBroker(t, tok, "--max-clients", "2")
	ep, _ := wire.ParseEndpoint(b.Endpoint())
	first := dial(t, b)
	dial(t, b) // the second, held open until the test ends
	if _, err := wire.Dial(ep, wire.ClientConfig{}); err == nil || !strings.Contains(err.Error(), "too many clients (limit 2)") {
		t.Fatalf("third client: %v, want a refusal naming the limit", err)
	}
	if !strings.Contains(b.Log(), "client refused: too many clients") {
		t.Error("the broker's log does not say it refused a client")
	}
	first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := wire.Dial(ep, wire.ClientConfig{})
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a client left, a new one is still refused: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A tcp:// listener (loopback only in tests) serves like a unix socket:
// the connection is handed to a worker the same way.
func TestTCPListener(t *testing.T) {
	tok := harness.NewToken(t, "tcp", "1234", "123456")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b := harness.StartBroker(t, tok, "--listen", "tcp://"+addr, "--insecure-tcp")
	ep, err := wire.ParseEndpoint("tcp://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	var c *wire.Client
	deadline := time.Now().Add(10 * time.Second)
	for c == nil {
		if c, err = wire.Dial(ep, wire.ClientConfig{Program: t.Name()}); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("dial %s: %v", ep, err)
			}
			c = nil
			time.Sleep(50 * time.Millisecond)
		}
	}
	defer c.Close()
	s := open(t, c, slotOf(t, tok))
	must(t, c, wire.CallLogin, &wire.LoginRequest{Session: s, UserType: wire.CKU_USER, Pin: wire.PIN(tok.PIN)}, &wire.LoginResponse{})
	if st := state(t, c, s); st != wire.CKS_RW_USER_FUNCTIONS {
		t.Errorf("state %d after login over TCP", st)
	}
	if !strings.Contains(b.Log(), `"listen":"tcp://`+addr) {
		t.Error("the broker's log does not show the TCP listener")
	}
}
