package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ConfigBroker is a build/gop11-broker started with a config file (config
// mode, or quick mode with --config and --module).
type ConfigBroker struct {
	Sock    string // %SOCK% of the config: a unix socket everyone may reach
	CfgPath string
	LogPath string // stdout and stderr, JSON at debug level

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// StartConfigBroker writes cfg (%SOCK% replaced by a socket in a
// directory everyone may enter) and starts the broker with it, env added
// to its environment and args to its command line; it returns once the
// broker serves. Cleanup stops it (SIGTERM, then SIGKILL after 10 s) and
// prints its log's tail if the test failed.
func StartConfigBroker(t testing.TB, cfg string, env []string, args ...string) *ConfigBroker {
	t.Helper()
	RequireBuild(t)
	sockDir, err := os.MkdirTemp("", "gop11-sock-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sockDir, 0o755)
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	dir := t.TempDir()
	b := &ConfigBroker{t: t, CfgPath: filepath.Join(dir, "broker.toml"), Sock: filepath.Join(sockDir, "b.sock"),
		LogPath: filepath.Join(dir, "broker.log"), done: make(chan struct{})}
	b.Write(cfg)
	logFile, err := os.Create(b.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(BrokerBin(), append([]string{"--config", b.CfgPath, "--log-level", "debug"}, args...)...)
	b.cmd.Env = append(os.Environ(), env...)
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
			<-b.done
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", Tail(b.Log(), 40))
		}
	})
	b.WaitLog(`"message":"serving"`, 20*time.Second)
	return b
}

// Write rewrites the config file (%SOCK% replaced).
func (b *ConfigBroker) Write(cfg string) {
	if err := os.WriteFile(b.CfgPath, []byte(strings.ReplaceAll(cfg, "%SOCK%", b.Sock)), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

// Log is what the broker has logged so far.
func (b *ConfigBroker) Log() string {
	data, _ := os.ReadFile(b.LogPath)
	return string(data)
}

// Calls counts the log's lines by their "call" field (see Broker.Calls).
func (b *ConfigBroker) Calls() map[string]int { return callCounts(logEntries(b.Log())) }

// PID is the broker's process ID.
func (b *ConfigBroker) PID() int { return b.cmd.Process.Pid }

// WaitLog waits until the log holds s, or fails the test.
func (b *ConfigBroker) WaitLog(s string, max time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(max)
	for !strings.Contains(b.Log(), s) {
		select {
		case <-b.done:
			b.t.Fatalf("broker exited while waiting for %q:\n%s", s, Tail(b.Log(), 30))
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %q in the broker log after %v:\n%s", s, max, Tail(b.Log(), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Reload rewrites the config and sends SIGHUP; it returns once the broker
// has loaded it (config mode).
func (b *ConfigBroker) Reload(cfg string) {
	b.t.Helper()
	n := strings.Count(b.Log(), "configuration loaded")
	b.Write(cfg)
	b.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(b.Log(), "configuration loaded") == n {
		if time.Now().After(deadline) {
			b.t.Fatalf("reload not done:\n%s", Tail(b.Log(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Signal sends sig to the broker.
func (b *ConfigBroker) Signal(sig os.Signal) { b.cmd.Process.Signal(sig) }

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ModuleTOML is a [[module]] table of a broker config: extra holds more
// of its keys, one per line; env becomes its [module.env].
func ModuleTOML(name, path, isolation, extra string, env map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n[[module]]\nname = %q\npath = %q\nisolation = %q\n%s\n[module.env]\n", name, path, isolation, extra)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %q\n", k, env[k])
	}
	return b.String()
}

// TokenTOML is a [[token]] table: module's token uri as virtual slot.
func TokenTOML(module, uri string, slot uint64) string {
	return fmt.Sprintf("\n[[token]]\nmodule = %q\nuri = %q\nslot = %d\n", module, uri, slot)
}
