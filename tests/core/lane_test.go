package core

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// rawLane joins the connection whose Welcome carried key, by hand, as the
// client library does, and returns the lane after its Welcome.
func rawLane(t *testing.T, b *harness.Broker, key []byte) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("unix", b.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteMsg(c, &wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, Program: t.Name(), Lane: key}); err != nil {
		t.Fatal(err)
	}
	_, err = wire.ReadWelcome(c)
	return c, err
}

// Calls go over lanes when the broker offers them, from many goroutines at
// once, sharing the connection's sessions; with --no-lanes they go over
// yamux and give the same answers.
func TestLanesCarryCalls(t *testing.T) {
	tok := harness.NewToken(t, "lanes", "1234", "123456")
	for _, tc := range []struct {
		name  string
		args  []string
		lanes bool
	}{{"lanes", nil, true}, {"yamux", []string{"--no-lanes"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := harness.StartBroker(t, tok, tc.args...)
			c := dial(t, b)
			if got := len(c.Welcome.Lane) > 0; got != tc.lanes {
				t.Fatalf("welcome offers lanes: %v, want %v", got, tc.lanes)
			}
			slot := slotOf(t, tok)
			s := open(t, c, slot)
			must(t, c, wire.CallLogin, &wire.LoginRequest{Session: s, UserType: wire.CKU_USER, Pin: []byte("1234")}, &wire.LoginResponse{})
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := 0; i < 100; i++ {
						// A session opened on one lane is used on whichever
						// lane the next call takes.
						var o wire.OpenSessionResponse
						if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slot, Flags: wire.CKF_SERIAL_SESSION}, &o); err != nil {
							errs <- err
							return
						}
						var si wire.GetSessionInfoResponse
						if err := c.Call(wire.CallGetSessionInfo, &wire.GetSessionInfoRequest{Session: o.Session}, &si); err != nil {
							errs <- err
							return
						}
						if si.Info.State != wire.CKS_RO_USER_FUNCTIONS {
							errs <- &stateErr{si.Info.State}
							return
						}
						if err := c.Call(wire.CallCloseSession, &wire.CloseSessionRequest{Session: o.Session}, &wire.CloseSessionResponse{}); err != nil {
							errs <- err
							return
						}
					}
				}(g)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if c.UsesLanes() != tc.lanes {
				t.Errorf("calls went over lanes: %v, want %v", c.UsesLanes(), tc.lanes)
			}
			if strings.Contains(b.Log(), "lane refused") {
				t.Error("the broker refused a lane")
			}
		})
	}
}

type stateErr struct{ state uint64 }

func (e *stateErr) Error() string { return "session state is not RO user functions" }

// A lane with a key no connection holds is refused, with a reason and a
// log line; the broker keeps serving.
func TestLaneWithUnknownKeyIsRefused(t *testing.T) {
	tok := harness.NewToken(t, "lanekey", "1234", "123456")
	b := harness.StartBroker(t, tok)
	good := dial(t, b)
	key := make([]byte, wire.LaneKeyLen)
	rand.Read(key)
	if _, err := rawLane(t, b, key); err == nil || !strings.Contains(err.Error(), "lane refused: no connection has this key") {
		t.Fatalf("a lane with an unknown key: %v, want a refusal", err)
	}
	if !strings.Contains(b.Log(), "lane refused") {
		t.Error("the broker's log does not say it refused the lane")
	}
	var info wire.GetInfoResponse
	must(t, good, wire.CallGetInfo, &wire.GetInfoRequest{}, &info)
}

// A malformed frame on a lane drops its whole connection (the yamux
// session and every lane), not other clients'; and a lane ends when its
// connection does.
func TestLaneProtocolViolationAndEnd(t *testing.T) {
	tok := harness.NewToken(t, "laneviol", "1234", "123456")
	b := harness.StartBroker(t, tok)
	good := dial(t, b)

	victim := dial(t, b)
	var info wire.GetInfoResponse
	must(t, victim, wire.CallGetInfo, &wire.GetInfoRequest{}, &info)
	other, err := rawLane(t, b, victim.Welcome.Lane)
	if err != nil {
		t.Fatalf("joining a lane by hand: %v", err)
	}
	bad, err := rawLane(t, b, victim.Welcome.Lane)
	if err != nil {
		t.Fatalf("joining a lane by hand: %v", err)
	}
	bad.Write([]byte{0, 0, 0, 6, 0x92, 44, 0xa3, 'b', 'a', 'd'}) // [C_Sign, "bad"]
	buf := make([]byte, 16)
	for _, l := range []net.Conn{bad, other} {
		if n, err := l.Read(buf); err == nil {
			t.Fatalf("a lane of the dropped connection still answers: %d bytes", n)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !victim.Lost() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !victim.Lost() {
		t.Error("the connection of the lane that broke the protocol was not dropped")
	}
	if !strings.Contains(b.Log(), "malformed message") {
		t.Error("the broker's log does not name the violation")
	}
	must(t, good, wire.CallGetInfo, &wire.GetInfoRequest{}, &info)

	// A client that closes its connection takes its lanes with it.
	leaving := dial(t, b)
	must(t, leaving, wire.CallGetInfo, &wire.GetInfoRequest{}, &info)
	l, err := rawLane(t, b, leaving.Welcome.Lane)
	if err != nil {
		t.Fatal(err)
	}
	leaving.Close()
	if _, err := l.Read(buf); err == nil {
		t.Error("a lane outlived its connection")
	}
}

// The server decodes C_Digest's requests on a lane into one reused value
// (wire.Reusable): inputs that grow, shrink and go empty must each be
// digested as themselves.
func TestDigestInputsOfChangingSize(t *testing.T) {
	tok := harness.NewToken(t, "lanedigest", "1234", "123456")
	b := harness.StartBroker(t, tok)
	c := dial(t, b)
	s := open(t, c, slotOf(t, tok))
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, in := range [][]byte{big, []byte("abc"), {}, big[:65536], big} {
		must(t, c, wire.CallDigestInit, &wire.DigestInitRequest{Session: s, Mechanism: wire.Mechanism{Type: wire.CKM_SHA256}}, &wire.DigestInitResponse{})
		var r wire.DigestResponse
		must(t, c, wire.CallDigest, &wire.DigestRequest{Session: s, Data: in}, &r)
		if want := sha256.Sum256(in); !bytes.Equal(r.Digest, want[:]) {
			t.Errorf("SHA-256 of %d bytes: got %x, want %x", len(in), r.Digest, want)
		}
	}
}

// A lane must come from the connection's own user: another user who
// learned the key (it travels only on the connection's socket, but keys
// leak) is refused, with the uids in the log. The other user is nobody,
// running python3 to send the lane's Hello by hand.
func TestLaneFromAnotherUserIsRefused(t *testing.T) {
	harness.Require(t, "/usr/bin/python3")
	if os.Getuid() != 0 {
		if harness.InCI() {
			t.Fatal("this test runs a process as nobody: it needs root")
		}
		t.Skip("needs root to run a process as nobody")
	}
	tok := harness.NewToken(t, "laneuid", "1234", "123456")
	b := harness.StartBroker(t, tok, "--socket-mode", "0666")
	if err := os.Chmod(filepath.Dir(b.Socket), 0o711); err != nil {
		t.Fatal(err)
	}
	c := dial(t, b)
	var info wire.GetInfoResponse
	must(t, c, wire.CallGetInfo, &wire.GetInfoRequest{}, &info)
	if len(c.Welcome.Lane) != wire.LaneKeyLen {
		t.Fatalf("no lane key in the welcome")
	}
	// The Hello as msgpack, by hand: ["gop11", version, "intruder", 1, key].
	const script = `
import socket, struct, sys
key = bytes.fromhex(sys.argv[2])
body = (b"\x95" + b"\xa5gop11" + bytes([int(sys.argv[3])]) + b"\xa8intruder" + b"\x01"
        + b"\xc4" + bytes([len(key)]) + key)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack(">I", len(body)) + body)
s.settimeout(10)
print(s.recv(4096))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, b.Socket, hex.EncodeToString(c.Welcome.Lane), strconv.Itoa(wire.ProtocolVersion))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "lane refused") {
		t.Errorf("nobody's lane was not refused; it read %s", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.Log(), "lane refused: peer uid 65534 is not the connection's (0)") {
		if time.Now().After(deadline) {
			t.Fatal("the broker's log does not name the two uids")
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, c, wire.CallGetInfo, &wire.GetInfoRequest{}, &info)
}
