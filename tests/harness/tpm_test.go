package harness

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestTPMToken makes an EC key on a tpm2-pkcs11 token, signs a digest with
// it through pkcs11-tool and verifies the signature with openssl; then it
// checks that cleanup left none of the token's daemons running.
func TestTPMToken(t *testing.T) {
	t.Parallel()
	Require(t, "pkcs11-tool")
	Require(t, "openssl")
	var pids []int
	t.Run("sign", func(t *testing.T) {
		tok := NewTPMToken(t, "harnessTPM", "1234", "5678") // logs its set-up time by step
		for _, d := range tok.daemons {
			pids = append(pids, d.cmd.Process.Pid)
		}
		if len(pids) != 3 {
			t.Fatalf("%d daemons, want swtpm, dbus-daemon and tpm2-abrmd", len(pids))
		}
		dir := t.TempDir()
		file := func(name string) string { return filepath.Join(dir, name) }
		p11 := func(args ...string) string {
			t.Helper()
			out, errOut, code := Run(t, tok.Env(), "pkcs11-tool", append([]string{"--module", tok.Module}, args...)...)
			if code != 0 {
				t.Fatalf("pkcs11-tool %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
			}
			return out
		}

		out := p11("--login", "--pin", tok.PIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "k1", "--id", "01")
		if !strings.Contains(out, "label:      k1") {
			t.Fatalf("keypairgen output:\n%s", out)
		}
		digest := sha256.Sum256([]byte("gop11 TPM token test"))
		if err := os.WriteFile(file("digest"), digest[:], 0o600); err != nil {
			t.Fatal(err)
		}
		p11("--login", "--pin", tok.PIN, "--sign", "-m", "ECDSA", "--id", "01",
			"-i", file("digest"), "-o", file("sig"), "--signature-format", "openssl")
		p11("--read-object", "--type", "pubkey", "--id", "01", "-o", file("pub.der"))

		verify := func(data string) (string, int) {
			out, errOut, code := Run(t, nil, "openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
				"-inkey", file("pub.der"), "-in", data, "-sigfile", file("sig"))
			return out + errOut, code
		}
		if out, code := verify(file("digest")); code != 0 || !strings.Contains(out, "Signature Verified Successfully") {
			t.Fatalf("openssl verify: exit %d\n%s", code, out)
		}
		// The check has teeth: another digest must not verify.
		other := sha256.Sum256([]byte("another message"))
		if err := os.WriteFile(file("other"), other[:], 0o600); err != nil {
			t.Fatal(err)
		}
		if out, code := verify(file("other")); code == 0 {
			t.Fatalf("openssl verified the signature over another digest:\n%s", out)
		}
	})
	// The subtest's cleanup has run: every daemon must be gone (reaped,
	// so kill(pid, 0) finds nothing).
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("daemon pid %d still exists after cleanup (kill 0: %v)", pid, err)
		}
	}
}

// TestTPMTokenSetupFailure fails NewTPMToken at tpm2_ptool init, after
// all three daemons started, and checks that cleanup still stops them. Not
// parallel: it swaps tpmPtool and counts this process's children, and
// parallel tests start only after it.
func TestTPMTokenSetupFailure(t *testing.T) {
	for _, tool := range tpmTools {
		Require(t, tool)
	}
	fake := filepath.Join(t.TempDir(), "tpm2_ptool")
	if err := os.WriteFile(fake, []byte("import sys\nsys.exit('forced failure')\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	saved := tpmPtool
	tpmPtool = fake
	defer func() { tpmPtool = saved }()
	var msg string
	t.Run("fail", func(t *testing.T) {
		msg = inFake(t, func(tb testing.TB) { NewTPMToken(tb, "harnessFail", "1234", "5678") })
		if got := daemonChildren(t); len(got) != 3 {
			t.Errorf("before cleanup: children %v, want the three daemons", got)
		}
	})
	if !strings.Contains(msg, "init --path") || !strings.Contains(msg, "forced failure") {
		t.Fatalf("NewTPMToken with a failing tpm2_ptool: fatal %q", msg)
	}
	if got := daemonChildren(t); len(got) != 0 {
		t.Fatalf("after cleanup: children still running: %v", got)
	}
}

// daemonChildren lists this process's children named like the daemons of
// a TPMToken, as "pid name".
func daemonChildren(t *testing.T) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(data)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		comm, rest := s[open+1:close], strings.Fields(s[close+1:])
		if len(rest) < 2 || rest[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		switch comm {
		case "swtpm", "dbus-daemon", "tpm2-abrmd":
			out = append(out, strings.TrimSpace(s[:open])+" "+comm)
		}
	}
	return out
}
