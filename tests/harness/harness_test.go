package harness

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestRoot(t *testing.T) {
	root := Root()
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "module github.com/gop11/gop11") {
		t.Fatalf("%s/go.mod is not gop11's", root)
	}
	if got, want := Module(), filepath.Join(root, "build", "libgop11.so"); got != want {
		t.Fatalf("Module() = %s, want %s", got, want)
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"pkcs11-dump clock",
			"                         label: tokA\n                       utcTime: 2026112503231300\nObject 0\n",
			"                         label: tokA\n                       utcTime: <time>\nObject 0\n"},
		{"pkcs11-tool -I library identity",
			"Cryptoki version 2.40\nManufacturer     SoftHSM\nLibrary          Implementation of PKCS11 (ver 2.6)\n",
			"Cryptoki version 2.40\nManufacturer     <masked>\nLibrary          <masked>\n"},
		{"token manufacturer stays",
			"  token manufacturer : SoftHSM project\n        Manufacturer ID:  SoftHSM project\n",
			"  token manufacturer : SoftHSM project\n        Manufacturer ID:  SoftHSM project\n"},
		{"handles",
			"hSession=0x12 hObject: 7 object handle 0x1f key handle=3\n",
			"hSession=<handle> hObject: <handle> object handle <handle> key handle=<handle>\n"},
		{"pkcs11-tool data object handle",
			"Data object 4\n  label:          'data2'\n",
			"Data object <handle>\n  label:          'data2'\n"},
		{"labels and IDs stay",
			"  label:      rsa1\n  ID:         01\nUsing slot 0 with a present token (0x4d1a2193)\nwith 5 keys\n",
			"  label:      rsa1\n  ID:         01\nUsing slot 0 with a present token (0x4d1a2193)\nwith 5 keys\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Fatalf("Mask(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewTokenAddClone(t *testing.T) {
	t.Parallel()
	a := NewToken(t, "harnessA", "1111", "2222")
	if a.Slot == "" || a.Serial == "" {
		t.Fatalf("slot %q serial %q", a.Slot, a.Serial)
	}
	b := a.AddToken(t, "harnessB", "3333", "4444")
	if b.Conf != a.Conf || b.Slot == a.Slot {
		t.Fatalf("AddToken: conf %s vs %s, slot %s vs %s", b.Conf, a.Conf, b.Slot, a.Slot)
	}
	c := a.Clone(t)
	if c.Conf == a.Conf || c.Slot != a.Slot || c.Serial != a.Serial || c.Label != a.Label {
		t.Fatalf("Clone: %+v from %+v", c, a)
	}
	// The clone is usable with its PIN and shows both tokens.
	out, _, code := Run(t, c.Env(), "softhsm2-util", "--show-slots")
	if code != 0 || !strings.Contains(out, "harnessA") || !strings.Contains(out, "harnessB") {
		t.Fatalf("clone --show-slots (exit %d):\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "softhsm2.conf")); err != nil {
		t.Fatal(err)
	}
}

// fakeTB records a Fatal instead of failing the real test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) {
	f.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

// inFake runs fn with a fakeTB on its own goroutine, so that Goexit ends
// only fn.
func inFake(t *testing.T, fn func(tb testing.TB)) string {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f.fatal
}

func TestRun(t *testing.T) {
	out, errOut, code := Run(t, []string{"GOP11_X=1"}, "sh", "-c", `echo "out $GOP11_X $SOFTHSM2_CONF"; echo err >&2; exit 3`)
	if out != "out 1 \n" || errOut != "err\n" || code != 3 {
		t.Fatalf("got %q %q %d", out, errOut, code)
	}
	t.Setenv("SOFTHSM2_CONF", "/nonexistent") // must not leak into children
	out, _, _ = Run(t, nil, "sh", "-c", `echo "[$SOFTHSM2_CONF]"`)
	if out != "[]\n" {
		t.Fatalf("SOFTHSM2_CONF leaked: %q", out)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	start := time.Now()
	msg := inFake(t, func(tb testing.TB) {
		// The grandchild sleep keeps the pipes open: the process group must die.
		RunCmd(tb, Command{Name: "sh", Args: []string{"-c", "echo started; sleep 30 & wait"}, Timeout: 300 * time.Millisecond})
	})
	if !strings.Contains(msg, "timed out") || !strings.Contains(msg, "started") {
		t.Fatalf("fatal message %q", msg)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestRequireMissing(t *testing.T) {
	t.Setenv("CI", "true")
	msg := inFake(t, func(tb testing.TB) { Require(tb, "gop11-no-such-tool") })
	if !strings.Contains(msg, "gop11-no-such-tool") {
		t.Fatalf("under CI a missing tool must fail, got %q", msg)
	}
}

func TestSecretForms(t *testing.T) {
	secret := "Sup3rSecretPin-4711"
	forms := SecretForms(secret)
	for o := 0; o < 3; o++ {
		blob := append([]byte("{\"msg\":"[:o+4]), secret...)
		blob = append(blob, "tail"...)
		enc := base64.StdEncoding.EncodeToString(blob)
		found := false
		for _, f := range forms {
			found = found || strings.Contains(enc, f)
		}
		if !found {
			t.Errorf("base64 of the secret at offset %d not recognised in %s", o+4, enc)
		}
	}
	if !strings.Contains(fmt.Sprintf("% x", secret), forms["spaced hex"]) {
		t.Errorf("spaced hex form %q", forms["spaced hex"])
	}
}

func TestDiff(t *testing.T) {
	got := Diff("a\nb\nc", "a\nB\nc\nd")
	want := "  a\n- b\n+ B\n  c\n+ d\n"
	if got != want {
		t.Fatalf("Diff:\n%s\nwant:\n%s", got, want)
	}
}

// TestStartBroker runs a client through a real broker, then restarts the
// broker gracefully and after a crash.
func TestStartBroker(t *testing.T) {
	t.Parallel()
	Require(t, "pkcs11-tool")
	tok := NewToken(t, "harnessBroker", "1111", "2222")
	b := StartBroker(t, tok)
	if len(b.Socket) > 107 {
		t.Fatalf("socket path %d bytes long: %s", len(b.Socket), b.Socket)
	}
	list := func(when string) {
		t.Helper()
		out, errOut, code := Run(t, b.ClientEnv(), "pkcs11-tool", "--module", Module(), "-L")
		if code != 0 || !strings.Contains(out, "harnessBroker") {
			t.Fatalf("%s: pkcs11-tool -L through the broker: exit %d\n%s%s", when, code, out, errOut)
		}
	}
	list("first start")
	if n := b.Calls()["C_GetSlotList"]; n == 0 {
		t.Fatalf("no C_GetSlotList in the broker log:\n%s", b.Log())
	}
	if res := b.Results("C_GetSlotList"); res["CKR_OK"] == 0 {
		t.Fatalf("C_GetSlotList results %v", res)
	}
	before := b.Calls()["C_GetSlotList"]
	b.Restart()
	list("after Restart")
	b.Kill()
	b.Restart()
	list("after Kill and Restart")
	if after := b.Calls()["C_GetSlotList"]; after <= before {
		t.Fatalf("log not appended across restarts: %d then %d calls", before, after)
	}
}
