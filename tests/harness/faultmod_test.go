package harness

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaultModuleSymbols checks that libfaultmod.so exports exactly the
// functions of include/pkcs11f.h, for clients that dlsym them.
func TestFaultModuleSymbols(t *testing.T) {
	t.Parallel()
	mod := FaultModule(t)
	hdr, err := os.ReadFile(filepath.Join(Root(), "include", "pkcs11f.h"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range regexp.MustCompile(`(?m)^CK_PKCS11_FUNCTION_INFO\((C_\w+)\)`).FindAllSubmatch(hdr, -1) {
		want = append(want, string(m[1]))
	}
	want = want[:min(len(want), 68)] // a v2.40 module: the header's v2.40 part
	f, err := elf.Open(mod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "C_") && s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			got = append(got, s.Name)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) != 68 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exported C_* functions (%d) differ from include/pkcs11f.h (%d):\n%s",
			len(got), len(want), Diff(strings.Join(want, "\n"), strings.Join(got, "\n")))
	}
}

// TestFaultModule drives a SoftHSM2 token through libfaultmod.so with
// pkcs11-tool: ordinary calls go through, and C_Sign crashes or hangs on
// the data prefixes.
func TestFaultModule(t *testing.T) {
	t.Parallel()
	Require(t, "pkcs11-tool")
	mod := FaultModule(t)
	tok := NewToken(t, "harnessFault", "1111", "2222")
	env := append(tok.Env(), FaultTargetEnv+"="+SoftHSM)
	dir := t.TempDir()
	tool := func(args ...string) []string {
		return append([]string{"--module", mod, "--login", "--pin", tok.PIN}, args...)
	}

	out, errOut, code := Run(t, env, "pkcs11-tool", tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "k1", "--id", "01")...)
	if code != 0 {
		t.Fatalf("keypairgen through faultmod: exit %d\n%s%s", code, out, errOut)
	}
	// sign writes data to a file and returns pkcs11-tool's arguments to
	// sign it with ECDSA: 32 bytes, the size of a P-256 digest.
	sign := func(name, data string) []string {
		in := filepath.Join(dir, name+".in")
		if err := os.WriteFile(in, []byte((data + strings.Repeat(".", 32))[:32]), 0o600); err != nil {
			t.Fatal(err)
		}
		return tool("--sign", "-m", "ECDSA", "--id", "01", "-i", in, "-o", filepath.Join(dir, name+".sig"))
	}

	t.Run("forward", func(t *testing.T) {
		out, errOut, code := Run(t, env, "pkcs11-tool", sign("plain", "an ordinary digest")...)
		if code != 0 {
			t.Fatalf("sign: exit %d\n%s%s", code, out, errOut)
		}
		sig, err := os.ReadFile(filepath.Join(dir, "plain.sig"))
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature: %d bytes, %v", len(sig), err)
		}
	})
	for _, tt := range []struct {
		prefix string
		sig    syscall.Signal
	}{
		{FaultCrash, syscall.SIGABRT},
		{FaultSegv, syscall.SIGSEGV},
	} {
		t.Run(tt.prefix, func(t *testing.T) {
			ws, res := runWait(t, env, "pkcs11-tool", sign(tt.prefix, tt.prefix)...)
			if !ws.Signaled() || ws.Signal() != tt.sig {
				t.Fatalf("pkcs11-tool: %v (%#x), want death by %v\n%s", ws, uint32(ws), tt.sig, res)
			}
		})
	}
	t.Run(FaultHang, func(t *testing.T) {
		const limit = 3 * time.Second
		start := time.Now()
		msg := inFake(t, func(tb testing.TB) {
			RunCmd(tb, Command{Name: "pkcs11-tool", Args: sign(FaultHang, FaultHang), Env: env, Timeout: limit})
		})
		took := time.Since(start)
		if !strings.Contains(msg, "timed out") {
			t.Fatalf("pkcs11-tool did not hang: %q", msg)
		}
		// pkcs11-tool prints this just before C_SignInit and C_Sign: the
		// hang was in signing, not in a start-up slowed by a busy machine.
		if !strings.Contains(msg, "Using signature algorithm") {
			t.Fatalf("pkcs11-tool timed out before signing: %q", msg)
		}
		if took < limit || took > limit+5*time.Second {
			t.Fatalf("timed out after %v, limit %v", took, limit)
		}
	})
}

// runWait runs a command as Run does but returns its wait status, which
// tells which signal ended it, and its output for messages.
func runWait(t *testing.T, env []string, name string, args ...string) (syscall.WaitStatus, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Dir = t.TempDir() // any core file lands here
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s timed out after %v\n%s", name, DefaultTimeout, out)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus), string(out)
}
