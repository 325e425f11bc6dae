package core

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

var (
	cinitOnce sync.Once
	cinitBin  string
	cinitErr  error
)

// buildCinit compiles tests/core/cinit/cinit.c, a C application.
func buildCinit(t *testing.T) string {
	t.Helper()
	harness.Require(t, "gcc")
	cinitOnce.Do(func() {
		cinitBin = filepath.Join(moduleDir, "cinit")
		out, err := exec.Command("gcc", "-O1", "-Wall", "-Werror", "-I", filepath.Join(harness.Root(), "include"),
			"-o", cinitBin, filepath.Join(harness.Root(), "tests/core/cinit/cinit.c"), "-ldl", "-lpthread").CombinedOutput()
		if err != nil {
			cinitErr = &buildError{string(out)}
		}
	})
	if cinitErr != nil {
		t.Fatal(cinitErr)
	}
	return cinitBin
}

type buildError struct{ out string }

func (e *buildError) Error() string { return "gcc cinit.c: " + e.out }

// Issue item 6, from a C application: every C_Initialize argument case
// answers as the spec says, the same as SoftHSM2 answers it directly.
func TestCInitializeCases(t *testing.T) {
	bin := buildCinit(t)
	tok := harness.NewToken(t, "cinit", "1234", "123456")
	b := harness.StartBroker(t, tok)
	proxied, _, code := harness.Run(t, b.ClientEnv(), bin, harness.Module())
	if code != 0 {
		t.Fatalf("cinit through the proxy exited %d:\n%s", code, proxied)
	}
	direct, _, code := harness.Run(t, tok.Env(), bin, harness.SoftHSM)
	if code != 0 {
		t.Fatalf("cinit against SoftHSM2 exited %d:\n%s", code, direct)
	}
	want := `before-init C_GetInfo rv=CKR_CRYPTOKI_NOT_INITIALIZED
null-args rv=CKR_OK
  C_GetInfo rv=CKR_OK
  C_Finalize rv=CKR_OK
os-locking rv=CKR_OK
  C_GetInfo rv=CKR_OK
  C_Finalize rv=CKR_OK
app-mutexes rv=CKR_OK
  C_GetInfo rv=CKR_OK
  C_Finalize rv=CKR_OK
app-mutexes+os-locking rv=CKR_OK
  C_GetInfo rv=CKR_OK
  C_Finalize rv=CKR_OK
cant-create-threads rv=CKR_OK
  C_GetInfo rv=CKR_OK
  C_Finalize rv=CKR_OK
some-mutexes rv=CKR_ARGUMENTS_BAD
reserved-set rv=CKR_ARGUMENTS_BAD
init rv=CKR_OK
init-again rv=CKR_CRYPTOKI_ALREADY_INITIALIZED
finalize-reserved rv=CKR_ARGUMENTS_BAD
finalize rv=CKR_OK
after-finalize C_GetInfo rv=CKR_CRYPTOKI_NOT_INITIALIZED
finalize-again rv=CKR_CRYPTOKI_NOT_INITIALIZED
reinit rv=CKR_OK
reinit C_GetInfo rv=CKR_OK
final rv=CKR_OK
`
	if proxied != want {
		t.Errorf("through the proxy:\n%s", harness.Diff(want, proxied))
	}
	if direct != proxied {
		t.Errorf("SoftHSM2 directly and the proxy differ:\n%s", harness.Diff(direct, proxied))
	}
	if b.Calls()["C_GetInfo"] < 6 {
		t.Errorf("the broker saw %d C_GetInfo calls, want 6 (the successful ones)", b.Calls()["C_GetInfo"])
	}
}

// Issue item 8: a forked child gets CKR_CRYPTOKI_NOT_INITIALIZED at once
// (C_Initialize: CKR_GENERAL_ERROR; the Go runtime does not survive fork)
// and never hangs; the parent's connection keeps working.
func TestCForkChild(t *testing.T) {
	bin := buildCinit(t)
	tok := harness.NewToken(t, "fork", "1234", "123456")
	b := harness.StartBroker(t, tok)
	out, _, code := harness.Run(t, b.ClientEnv(), bin, "--fork", harness.Module())
	if code != 0 {
		t.Fatalf("cinit --fork exited %d:\n%s", code, out)
	}
	want := `parent init rv=CKR_OK
parent C_GetInfo rv=CKR_OK
parent C_GetSlotList rv=CKR_OK
child C_GetInfo rv=CKR_CRYPTOKI_NOT_INITIALIZED
child C_OpenSession rv=CKR_CRYPTOKI_NOT_INITIALIZED
child C_Initialize rv=CKR_GENERAL_ERROR
child C_Finalize rv=CKR_CRYPTOKI_NOT_INITIALIZED
parent after fork C_GetInfo rv=CKR_OK
parent after fork C_OpenSession rv=CKR_OK
parent C_CloseSession rv=CKR_OK
parent C_Finalize rv=CKR_OK
`
	if out != want {
		t.Errorf("fork transcript:\n%s", harness.Diff(want, out))
	}
	if !strings.Contains(b.Log(), `"call":"C_OpenSession"`) {
		t.Error("the parent's C_OpenSession after the fork did not reach the broker")
	}
}

// Issue item 1: the v3.0 C_GetInterfaceList / C_GetInterface give the
// v2.40 function list, and calls made through it reach the broker.
func TestCGetInterface(t *testing.T) {
	bin := buildCinit(t)
	tok := harness.NewToken(t, "iface", "1234", "123456")
	b := harness.StartBroker(t, tok)
	out, _, code := harness.Run(t, b.ClientEnv(), bin, "--interface", harness.Module())
	if code != 0 {
		t.Fatalf("cinit --interface exited %d:\n%s", code, out)
	}
	want := `list NULL rv=CKR_OK
  count=1
list short rv=CKR_BUFFER_TOO_SMALL
list rv=CKR_OK
  name=PKCS 11 version=2.40
get default rv=CKR_OK
get PKCS 11 2.40 rv=CKR_OK
get PKCS 11 3.0 rv=CKR_ARGUMENTS_BAD
get other name rv=CKR_ARGUMENTS_BAD
get fork-safe rv=CKR_ARGUMENTS_BAD
get NULL out rv=CKR_ARGUMENTS_BAD
via interface C_Initialize rv=CKR_OK
via interface C_GetInfo rv=CKR_OK
via interface C_Finalize rv=CKR_OK
`
	if out != want {
		t.Errorf("interface transcript:\n%s", harness.Diff(want, out))
	}
	if b.Calls()["C_GetInfo"] == 0 {
		t.Error("C_GetInfo through the interface's function list did not reach the broker")
	}
}
