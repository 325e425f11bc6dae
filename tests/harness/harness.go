// Package harness starts what gop11's end-to-end tests need: SoftHSM2
// tokens in temporary directories, the gop11 broker in front of them, and
// client commands with a time limit, in the manner of go-plugin's
// testing.go helpers (TestConn and friends).
//
// Every helper takes the calling test's testing.TB, fails that test on
// error and registers its own cleanup, so a test reads as a list of steps.
//
// Concurrency: helpers may be called from parallel tests; each call creates
// its own directories, sockets and processes. A *Broker's methods may be
// called from several goroutines; a *Token is plain data.
package harness

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// SoftHSM is the vendor module that the tests put behind the proxy.
const SoftHSM = "/usr/lib/softhsm/libsofthsm2.so"

// ErrNoRoot is returned (as a panic value) by Root when no go.mod is found
// above the working directory nor above this source file.
var ErrNoRoot = errors.New("harness: go.mod not found above the working directory")

var (
	rootOnce sync.Once
	rootDir  string
)

// Root returns the repository root: the nearest directory holding go.mod,
// looked for upward from the working directory (go test runs in the
// package's directory), then upward from this source file.
func Root() string {
	rootOnce.Do(func() {
		var starts []string
		if wd, err := os.Getwd(); err == nil {
			starts = append(starts, wd)
		}
		if _, file, _, ok := runtime.Caller(0); ok {
			starts = append(starts, filepath.Dir(file))
		}
		for _, dir := range starts {
			if r := findGoMod(dir); r != "" {
				rootDir = r
				return
			}
		}
	})
	if rootDir == "" {
		panic(ErrNoRoot)
	}
	return rootDir
}

func findGoMod(dir string) string {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Module returns the path of the proxy module, ROOT/build/libgop11.so.
// Call RequireBuild first to fail cleanly when it has not been built.
func Module() string { return filepath.Join(Root(), "build", "libgop11.so") }

// BrokerBin returns the path of the broker binary, ROOT/build/gop11-broker.
func BrokerBin() string { return filepath.Join(Root(), "build", "gop11-broker") }

// RequireBuild fails the test when build/libgop11.so or build/gop11-broker
// is missing. The build outputs are never skipped over, even outside CI: a
// proxy test that silently skips proves nothing.
func RequireBuild(t testing.TB) {
	t.Helper()
	for _, p := range []string{Module(), BrokerBin()} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run make build first (%v)", p, err)
		}
	}
}

// InCI reports whether the tests run under CI (CI=true), where a missing
// tool is an error rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require checks that tool (a command name looked up in PATH, or a file
// path) is present. When it is not, the test fails under CI=true and is
// skipped otherwise, with the reason and the fix (tests/deps.sh).
func Require(t testing.TB, tool string) {
	t.Helper()
	var err error
	if strings.ContainsRune(tool, '/') {
		_, err = os.Stat(tool)
	} else {
		_, err = exec.LookPath(tool)
	}
	if err == nil {
		return
	}
	msg := "required tool " + tool + " is missing (run tests/deps.sh): " + err.Error()
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// cleanEnv returns the process environment without the variables that
// would point a child at another token or broker than the test chose:
// SOFTHSM2_CONF and every GOP11_* variable. Callers append their own.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SOFTHSM2_CONF=") || strings.HasPrefix(kv, "GOP11_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
