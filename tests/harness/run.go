package harness

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds every command started by Run: a client that hangs
// (for example on a broker that never answers) fails its test instead of
// hanging the whole suite until go test's own deadline.
const DefaultTimeout = 60 * time.Second

// Command describes one client run for RunCmd.
type Command struct {
	Name    string
	Args    []string
	Env     []string      // appended to the cleaned process environment (see Run)
	Dir     string        // working directory; "" means the test's
	Stdin   []byte        // nil means /dev/null, so a tool prompting for a PIN fails at once
	Timeout time.Duration // 0 means DefaultTimeout
}

// Result is what a finished command left behind.
type Result struct {
	Stdout, Stderr string
	Code           int // exit code; -1 when killed by a signal
	Elapsed        time.Duration
}

// Run runs name with args and returns its output and exit code. The child
// gets this process's environment less SOFTHSM2_CONF and GOP11_*, plus env,
// so that only what the test passes decides which token and broker it
// reaches. A command still running after DefaultTimeout is killed (with
// its process group) and the test fails with what it printed so far. A
// command that cannot be started at all fails the test; a non-zero exit
// code does not: comparing outcomes is the caller's business.
func Run(t testing.TB, env []string, name string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	r := RunCmd(t, Command{Name: name, Args: args, Env: env})
	return r.Stdout, r.Stderr, r.Code
}

// RunCmd is Run with every option.
func RunCmd(t testing.TB, c Command) Result {
	t.Helper()
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Env = append(cleanEnv(), c.Env...)
	cmd.Dir = c.Dir
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Own process group, killed whole on timeout, so that helpers a tool
	// spawns cannot keep the pipes open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("%s timed out after %v\nstdout:\n%s\nstderr:\n%s", describe(c), timeout, tail(res.Stdout, 40), tail(res.Stderr, 40))
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.Code = exitErr.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
		// Exited, but a grandchild still held stdout/stderr open.
		res.Code = cmd.ProcessState.ExitCode()
	default:
		t.Fatalf("%s: %v", describe(c), err)
	}
	return res
}

func describe(c Command) string {
	return strings.TrimSpace(c.Name + " " + strings.Join(c.Args, " "))
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
