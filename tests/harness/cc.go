package harness

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// CompileC builds the C file src (relative to the repository root) with
// gcc, strict warnings and gop11's include/, into t.TempDir(), and returns
// the output's path; args go before the source (-shared -fPIC for a
// module) and -ldl -lpthread after it. A missing gcc fails under CI=true.
func CompileC(t testing.TB, src, out string, args ...string) string {
	t.Helper()
	Require(t, "gcc")
	path := filepath.Join(t.TempDir(), out)
	argv := append([]string{"-O1", "-Wall", "-Werror", "-I", filepath.Join(Root(), "include"), "-o", path}, args...)
	argv = append(argv, filepath.Join(Root(), src), "-ldl", "-lpthread")
	if b, err := exec.Command("gcc", argv...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	return path
}
