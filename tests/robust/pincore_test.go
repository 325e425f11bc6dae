package robust

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// TestNoPINInBrokerCore (issue 21, item 10): after a client logs in, once
// with a wrong PIN and once with the right one, a core of the broker made
// with gdb's gcore holds no copy of either PIN; in quick mode, and in
// config mode with each isolation.
func TestNoPINInBrokerCore(t *testing.T) {
	harness.Require(t, "gcore")
	harness.Require(t, "pkcs11-tool")
	random := func() string {
		b := make([]byte, 6)
		rand.Read(b)
		return "pin-" + hex.EncodeToString(b)
	}
	pin, wrong := random(), random()
	tok := harness.NewToken(t, "pins", pin, "so-"+pin)

	login := func(t *testing.T, env []string) {
		t.Helper()
		out, stderr, code := harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--login", "--pin", wrong, "-O")
		if code == 0 || !strings.Contains(out+stderr, "CKR_PIN_INCORRECT") {
			t.Fatalf("wrong PIN: exit %d, want CKR_PIN_INCORRECT\n%s%s", code, out, stderr)
		}
		if out, stderr, code := harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--login", "--pin", pin, "-O"); code != 0 {
			t.Fatalf("login: exit %d\n%s%s", code, out, stderr)
		}
	}

	t.Run("quick", func(t *testing.T) {
		b := harness.StartBroker(t, tok)
		login(t, b.ClientEnv())
		checkCore(t, b.PID(), b.Socket, pin, wrong)
	})
	for _, iso := range []string{"process", "shared", "inprocess"} {
		t.Run(iso, func(t *testing.T) {
			cfg := `listen = ["unix://%SOCK%"]` + "\n" +
				harness.ModuleTOML("softhsm", harness.SoftHSM, iso, "", map[string]string{"SOFTHSM2_CONF": tok.Conf}) +
				harness.TokenTOML("softhsm", "pkcs11:token=pins", 1)
			b := harness.StartConfigBroker(t, cfg, nil)
			login(t, []string{"GOP11_BROKER=unix://" + b.Sock})
			checkCore(t, b.PID(), b.Sock, pin, wrong)
		})
	}
}

// checkCore dumps pid's memory with gcore and counts each secret in it;
// known, a string the process holds (its socket path), shows that the
// core holds its memory and that the count finds what is there. A copy in
// a saved register area is counted apart (inRegisters).
func checkCore(t *testing.T, pid int, known string, secrets ...string) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "core")
	if out, stderr, code := harness.Run(t, nil, "gcore", "-o", prefix, fmt.Sprint(pid)); code != 0 {
		t.Fatalf("gcore %d: exit %d\n%s%s", pid, code, out, stderr)
	}
	path := fmt.Sprintf("%s.%d", prefix, pid)
	defer os.Remove(path) // a Go process's core holds its whole reserved heap: ~2 GB
	counts, saved, size := countIn(t, path, append([]string{known}, secrets...))
	if counts[0]+saved[0] == 0 {
		t.Fatalf("the core of %d (%d bytes) does not hold %q, which the broker holds", pid, size, known)
	}
	counts, saved = counts[1:], saved[1:]
	for i := range secrets {
		if counts[i] != 0 {
			t.Errorf("the broker's core (%d MiB) holds %d copies of PIN %d of %d", size>>20, counts[i], i+1, len(secrets))
		}
	}
	t.Logf("core of the broker, %d MiB: %v copies of the PINs in memory, %v in saved registers", size>>20, counts, saved)
}

// inRegisters reports whether a match that follows before lies in a saved
// register area: the x87 control word 0x037f and, within 32 bytes after
// it, an MXCSR of the default 0x1f80 with any exception flags, both less
// than 256 bytes before the match. A signal or preemption that lands
// while memmove copies a frame saves the SSE registers holding its bytes
// there, PIN included, until the next one on that thread; a program has
// no way to clear them (see the closing note of issue 21, item 10).
func inRegisters(before []byte) bool {
	for i := max(0, len(before)-256); i+2 <= len(before); i++ {
		if before[i] != 0x7f || before[i+1] != 0x03 {
			continue
		}
		for j := i + 2; j+2 <= min(len(before), i+34); j++ {
			if before[j+1] == 0x1f && before[j]&0xc0 == 0x80 {
				return true
			}
		}
	}
	return false
}

// countIn counts the occurrences of each needle in a file, reading it in
// chunks that overlap by 1 KiB (more than the longest needle), apart from
// those in saved registers.
func countIn(t *testing.T, path string, needles []string) (counts, saved []int, size int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const overlap = 1 << 10
	counts, saved = make([]int, len(needles)), make([]int, len(needles))
	buf := make([]byte, 8<<20)
	keep := 0
	for {
		n, err := f.Read(buf[keep:])
		size += int64(n)
		data := buf[:keep+n]
		for i, needle := range needles {
			for j := 0; ; {
				k := bytes.Index(data[j:], []byte(needle))
				if k < 0 {
					break
				}
				at := j + k
				// A match that ends inside the kept overlap was counted.
				if at+len(needle) > keep {
					if inRegisters(data[max(0, at-256):at]) {
						saved[i]++
					} else {
						counts[i]++
					}
				}
				j = at + 1
			}
		}
		keep = min(overlap, len(data))
		copy(buf, data[len(data)-keep:])
		if err == io.EOF {
			return counts, saved, size
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
