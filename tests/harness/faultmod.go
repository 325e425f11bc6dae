package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Data prefixes that make tests/faultmod's C_Sign fail on purpose. Sign
// data that begins with one of them through FaultModule.
const (
	FaultCrash = "gop11-crash" // abort(): the process dies by SIGABRT
	FaultSegv  = "gop11-segv"  // a store through NULL: SIGSEGV
	FaultHang  = "gop11-hang"  // pause() forever: only a signal ends it
	// FaultForget signs, then logs the token out: a token that forgot
	// its login.
	FaultForget = "gop11-forget"
)

// FaultMaxSessionsEnv caps the sessions the fault module lets be open at
// once (CKR_SESSION_COUNT beyond), as HSMs do.
const FaultMaxSessionsEnv = "FAULTMOD_MAX_SESSIONS"

// FaultTargetEnv is the variable naming the module that FaultModule
// forwards to; unset, it is SoftHSM.
const FaultTargetEnv = "FAULTMOD_TARGET"

var (
	faultOnce sync.Once
	faultPath string
	faultErr  error
)

// FaultModule returns the path of libfaultmod.so, built from
// tests/faultmod/faultmod.c: a PKCS #11 module that forwards every call to
// the module named by FAULTMOD_TARGET (SoftHSM by default), except that
// C_Sign crashes or hangs when its data begins with FaultCrash, FaultSegv
// or FaultHang. A client using it against a SoftHSM2 token needs the
// token's Env() and, to be explicit, FAULTMOD_TARGET=SoftHSM.
//
// The library is compiled at most once per test binary, with gcc, into
// the user's cache directory under a name derived from the source, the
// headers and the compiler flags: later test binaries reuse it and nothing
// accumulates in /tmp. A missing gcc is handled as by Require.
func FaultModule(t testing.TB) string {
	t.Helper()
	Require(t, "gcc")
	faultOnce.Do(func() { faultPath, faultErr = buildFaultModule() })
	if faultErr != nil {
		t.Fatal(faultErr)
	}
	return faultPath
}

func buildFaultModule() (string, error) {
	root := Root()
	src := filepath.Join(root, "tests", "faultmod", "faultmod.c")
	inc := filepath.Join(root, "include")
	cflags := []string{"-shared", "-fPIC", "-O2", "-Wall", "-Werror"}

	// The cache key covers everything the output depends on that lives in
	// this repository.
	h := sha256.New()
	fmt.Fprintf(h, "cflags %q\n", cflags)
	headers, err := filepath.Glob(filepath.Join(inc, "*.h"))
	if err != nil {
		return "", err
	}
	sort.Strings(headers)
	for _, f := range append([]string{src}, headers...) {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("faultmod: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]

	dir, err := faultCacheDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "libfaultmod-"+key+".so")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	// Build under a private name, then rename: a test binary running at the
	// same time sees either no file or a whole one.
	tmp, err := os.CreateTemp(dir, "build-*.so")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append(append([]string{}, cflags...), "-I", inc, "-o", tmp.Name(), src, "-ldl")
	cmd := exec.Command("gcc", args...)
	cmd.Env = cleanEnv()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("faultmod: gcc %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// faultCacheDir returns USERCACHE/gop11-tests, created private to the
// user: a library that tests load must not sit where others can swap it.
// Without a cache directory it falls back to a new temporary directory.
func faultCacheDir() (string, error) {
	if base, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(base, "gop11-tests")
		if err := os.MkdirAll(dir, 0o700); err == nil {
			return dir, nil
		}
	}
	return os.MkdirTemp("", "gop11-faultmod-")
}
