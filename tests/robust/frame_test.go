package robust

import (
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// nilTemplateFrame is a C_FindObjectsInit request whose template claims n
// attributes, each a one-byte MessagePack nil: what decoded into 2.75 GB
// per 16 MiB frame before arrays had a budget. With its length prefix.
func nilTemplateFrame(n int) []byte {
	b := make([]byte, 4, 4+9+n)
	b = append(b, 0x92, byte(wire.CallFindObjectsInit), 0x92, 0x01, 0xdd)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := 0; i < n; i++ {
		b = append(b, 0xc0)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestNilTemplateFrame: a client sends a 16 MiB frame of 16.7 million nil
// template entries on a lane. The process that decodes it (quick mode's
// worker, or the config-mode broker) refuses it within a bounded peak
// RSS, drops that connection, and serves the others.
func TestNilTemplateFrame(t *testing.T) {
	for _, mode := range []string{"quick", "config"} {
		t.Run(mode, func(t *testing.T) { nilTemplate(t, mode) })
	}
}

// peakBound is the most the decoding process may hold at its peak (VmHWM).
const peakBound = 256 << 20

func nilTemplate(t *testing.T, mode string) {
	tok := harness.NewToken(t, "robust", "1234", "123456")
	var sock string
	var logOf func() string
	var brokerPID int // config mode: the broker decodes the frames
	switch mode {
	case "config":
		b := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
			harness.ModuleTOML("softhsm", harness.SoftHSM, "process", "", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
			harness.TokenTOML("softhsm", "pkcs11:token=robust", 1), nil)
		sock, logOf, brokerPID = b.Sock, b.Log, b.PID()
	default:
		b := harness.StartBroker(t, tok)
		sock = b.Socket
		logOf = func() string { return readLog(b.LogPath) }
	}
	ep := wire.Endpoint{Network: "unix", Address: sock}
	other, err := wire.Dial(ep, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var others int // quick mode: the other client's worker
	if brokerPID == 0 {
		others = nextWorker(t, logOf, 0)
	}
	attacker, err := wire.Dial(ep, wire.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	pid := brokerPID
	if pid == 0 {
		pid = nextWorker(t, logOf, others) // the attacker's
	}
	fd, err := wire.DialUnixLane(sock, attacker.Welcome.Lane, "attacker", uint64(os.Getpid()))()
	if err != nil {
		t.Fatal(err)
	}
	l, err := wire.NewLaneConn(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetTimeout(10 * time.Second)
	if _, err := wire.ReadWelcome(l); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write(nilTemplateFrame(16<<20 - 16)); err != nil {
		t.Fatalf("writing the frame: %v", err)
	}
	// The connection is dropped: the lane reads EOF (or a reset).
	buf := make([]byte, 64)
	if _, err := l.Read(buf); err == nil {
		t.Errorf("the lane answered a malformed frame")
	}
	var hwm int64
	if mode == "config" {
		hwm = memory(t, pid, "VmHWM")
	} else { // the worker exits with its one connection: the broker logs its peak
		re := regexp.MustCompile(fmt.Sprintf(`"max_rss_kib":(\d+),"worker":%d,`, pid))
		for deadline := time.Now().Add(10 * time.Second); re.FindStringSubmatch(logOf()) == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d did not exit:\n%s", pid, harness.Tail(logOf(), 10))
			}
		}
		kib, _ := strconv.ParseInt(re.FindStringSubmatch(logOf())[1], 10, 64)
		hwm = kib << 10
	}
	if hwm > peakBound {
		t.Errorf("the decoding process (pid %d) peaked at %d MiB, want under %d MiB", pid, hwm>>20, peakBound>>20)
	}
	t.Logf("peak RSS of pid %d: %d MiB", pid, hwm>>20)
	if !strings.Contains(logOf(), "a template of 16777200 elements (limit 65536)") {
		t.Errorf("the log does not say why the connection was dropped:\n%s", harness.Tail(logOf(), 10))
	}
	if err := other.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{}); err != nil {
		t.Errorf("another client after the attack: %v", err)
	}
}
