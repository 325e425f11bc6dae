package harness

import (
	"path/filepath"
	"testing"
)

// P11Flow compiles tests/service/cclient/p11flow.c (a C application that
// makes the calls of Amplia and of the Azure IoT keys service) against the
// repository's include/pkcs11.h into t's temporary directory, and returns
// the binary's path.
func P11Flow(t testing.TB) string {
	t.Helper()
	Require(t, "gcc")
	bin := filepath.Join(t.TempDir(), "p11flow")
	r := RunCmd(t, Command{Name: "gcc", Args: []string{"-std=c99", "-Wall", "-Wextra", "-Werror",
		"-I", filepath.Join(Root(), "include"), "-o", bin,
		filepath.Join(Root(), "tests", "service", "cclient", "p11flow.c"), "-ldl", "-lpthread"}})
	if r.Code != 0 {
		t.Fatalf("gcc p11flow.c: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	return bin
}
