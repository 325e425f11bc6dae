package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TPMModule is tpm2-pkcs11's PKCS #11 module as Debian 12 installs it
// (package libtpm2-pkcs11-1).
const TPMModule = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"

const (
	// tpmReadyTimeout bounds the wait for each daemon to serve. Generous:
	// a daemon that fails usually exits, which ends the wait at once, and
	// at a load average of 150 on 2 cores tpm2-abrmd took 0.9 s.
	tpmReadyTimeout = 30 * time.Second
	// tpmStopGrace is how long cleanup waits after SIGTERM before SIGKILL.
	tpmStopGrace = 3 * time.Second
	// tpmPython runs tpm2_ptool: python3 on PATH may be another
	// interpreter, without Debian's modules.
	tpmPython = "/usr/bin/python3"
	// tpmBusName is the D-Bus name tpm2-abrmd owns once it serves.
	tpmBusName = "com.intel.tss2.Tabrmd"
	// tpmTCTI reaches tpm2-abrmd on the session bus named by
	// DBUS_SESSION_BUS_ADDRESS.
	tpmTCTI = "tabrmd:bus_type=session"
)

// tpmPtool is Debian's tpm2_ptool (package libtpm2-pkcs11-tools), a
// Python script run with tpmPython. A variable so that a test can make
// set-up fail after every daemon has started.
var tpmPtool = "/usr/bin/tpm2_ptool"

// tpmTools are the programs and files NewTPMToken needs; tests/deps.sh
// installs them (swtpm swtpm-tools dbus tpm2-abrmd tpm2-tools
// libtpm2-pkcs11-1 libtpm2-pkcs11-tools).
var tpmTools = []string{
	"swtpm", "swtpm_setup", "dbus-daemon", "dbus-send", "tpm2-abrmd",
	"tpm2_dictionarylockout", tpmPython, TPMModule,
}

// TPMToken is a tpm2-pkcs11 token backed by a software TPM (swtpm) behind
// the tpm2-abrmd resource manager on a private D-Bus session bus, all
// started by NewTPMToken for one test. Processes that load Module need
// Env() in their environment.
type TPMToken struct {
	Label  string // token label
	PIN    string // user PIN
	SOPIN  string // security officer PIN
	Store  string // TPM2_PKCS11_STORE: tpm2-pkcs11's database directory
	Module string // TPMModule
	Dir    string // all state: tpm/ (swtpm), store/ and the daemons' logs
	Bus    string // DBUS_SESSION_BUS_ADDRESS of the private bus

	daemons []*daemon // in start order
}

// Env returns the environment that points tpm2-pkcs11 and tpm2-tools at
// this token: TPM2_PKCS11_STORE, TPM2_PKCS11_TCTI and TPM2TOOLS_TCTI
// (tpm2-abrmd on the session bus), DBUS_SESSION_BUS_ADDRESS, and
// TPM2_PKCS11_LOG_LEVEL=0 so the module prints nothing into the output of
// the tools under test.
func (tok *TPMToken) Env() []string {
	return []string{
		"TPM2_PKCS11_STORE=" + tok.Store,
		"TPM2_PKCS11_TCTI=" + tpmTCTI,
		"TPM2TOOLS_TCTI=" + tpmTCTI,
		"DBUS_SESSION_BUS_ADDRESS=" + tok.Bus,
		"TPM2_PKCS11_LOG_LEVEL=0",
	}
}

// Logs returns the tail of each daemon's log, for failure messages.
func (tok *TPMToken) Logs() string {
	var b strings.Builder
	for _, d := range tok.daemons {
		fmt.Fprintf(&b, "--- %s (%s), last %d lines:\n%s", d.name, d.log, logTailLines, tail(readFile(d.log), logTailLines))
	}
	return b.String()
}

// NewTPMToken creates a tpm2-pkcs11 token in a fresh software TPM, as in
// /work/shared/notes/tpm2-pkcs11-on-swtpm.md:
//
//  1. swtpm_setup manufactures a TPM 2.0 state in DIR/tpm;
//  2. swtpm serves it on two free loopback TCP ports (data and control);
//  3. dbus-daemon runs a private session bus on a unix socket;
//  4. tpm2-abrmd, the resource manager tpm2-pkcs11 needs, connects to
//     swtpm and takes its name on that bus;
//  5. tpm2_dictionarylockout allows 1000 wrong PINs with 1 s recovery, so a
//     wrong-PIN test does not lock the TPM for the rest of the test;
//  6. tpm2_ptool init and addtoken create the store and the token.
//
// Each daemon is waited for (at most 30 s each) and stopped by cleanup,
// in reverse order, with SIGTERM and after 3 s SIGKILL, also when the test
// fails half-way. The daemons die with the test binary too (Pdeathsig),
// should go test's own timeout end it before cleanup runs. A missing tool
// is handled as by Require. Takes about 2.2 s on an idle 2-core machine
// of the project's kind, most of it in swtpm_setup and tpm2_ptool (Python
// start-up, an RSA primary key made in the software TPM); 6 to 28 s while
// other suites load the machine.
func NewTPMToken(t testing.TB, label, userPIN, soPIN string) *TPMToken {
	t.Helper()
	for _, tool := range append(tpmTools, tpmPtool) {
		Require(t, tool)
	}
	dir := t.TempDir()
	// t.TempDir() paths grow with the test name; the bus socket needs a
	// short path (sun_path holds 107 bytes), as StartBroker's does.
	sockDir, err := os.MkdirTemp("", "gop11-tpm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	tok := &TPMToken{
		Label: label, PIN: userPIN, SOPIN: soPIN,
		Store:  filepath.Join(dir, "store"),
		Module: TPMModule,
		Dir:    dir,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("TPM token %s daemons:\n%s", label, tok.Logs())
		}
	})
	for _, sub := range []string{"tpm", "store"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var steps []string
	begin := time.Now()
	step := func(name string, fn func()) {
		t.Helper()
		start := time.Now()
		fn()
		steps = append(steps, fmt.Sprintf("%s %v", name, time.Since(start).Round(time.Millisecond)))
	}

	step("swtpm_setup", func() {
		tok.run(t, nil, "swtpm_setup", "--tpm2", "--tpmstate", filepath.Join(dir, "tpm"), "--createek", "--overwrite")
	})
	var port int
	step("swtpm", func() { port = tok.startSwtpm(t) })
	step("dbus-daemon", func() { tok.Bus = tok.startBus(t, filepath.Join(sockDir, "bus")) })
	step("tpm2-abrmd", func() { tok.startAbrmd(t, port) })
	step("tpm2_dictionarylockout", func() {
		tok.run(t, tok.Env(), "tpm2_dictionarylockout", "--setup-parameters",
			"--max-tries=1000", "--recovery-time=1", "--lockout-recovery-time=1")
	})
	// Empty PYTHONHOME and PYTHONPATH count as unset: an inherited pyenv
	// setting must not steer Debian's interpreter.
	pyEnv := append(tok.Env(), "PYTHONHOME=", "PYTHONPATH=")
	step("tpm2_ptool init", func() {
		tok.run(t, pyEnv, tpmPython, tpmPtool, "init", "--path", tok.Store)
	})
	step("tpm2_ptool addtoken", func() {
		tok.run(t, pyEnv, tpmPython, tpmPtool, "addtoken", "--pid=1", "--label="+label,
			"--userpin="+userPIN, "--sopin="+soPIN, "--path", tok.Store)
	})
	t.Logf("TPM token %s ready in %v: %s", label, time.Since(begin).Round(time.Millisecond), strings.Join(steps, ", "))
	return tok
}

// run runs one set-up command and fails the test, with the daemons' logs,
// unless it exits 0.
func (tok *TPMToken) run(t testing.TB, env []string, name string, args ...string) {
	t.Helper()
	res := RunCmd(t, Command{Name: name, Args: args, Env: env, Dir: tok.Dir})
	if res.Code != 0 {
		t.Fatalf("TPM token %s: %s: exit %d\nstdout:\n%s\nstderr:\n%s\n%s", tok.Label, describe(Command{Name: name, Args: args}),
			res.Code, tail(res.Stdout, logTailLines), tail(res.Stderr, logTailLines), tok.Logs())
	}
}

// startSwtpm starts swtpm on two free adjacent loopback ports and returns
// the data port once both accept connections. A port can be taken between the probe
// that found it free and swtpm's bind; swtpm then exits and is started
// again on other ports, three times at most.
func (tok *TPMToken) startSwtpm(t testing.TB) int {
	t.Helper()
	for attempt := 1; ; attempt++ {
		data, ctrl := freePortPair(t)
		ports := []int{data, ctrl}
		d := tok.start(t, "swtpm", nil, nil, "swtpm", "socket", "--tpm2",
			"--tpmstate", "dir="+filepath.Join(tok.Dir, "tpm"),
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ports[0]),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", ports[1]),
			"--flags", "not-need-init,startup-clear")
		err := d.waitReady(func() error {
			for _, p := range ports {
				c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), time.Second)
				if err != nil {
					return err
				}
				c.Close()
			}
			return nil
		})
		if err == nil {
			return ports[0]
		}
		if !d.exited() || attempt == 3 {
			t.Fatalf("TPM token %s: %v\n%s", tok.Label, err, tok.Logs())
		}
	}
}

// startBus starts a private session bus listening on socket and returns
// its address. dbus-daemon runs in the foreground (--nofork) as a child
// of the test, so that cleanup can wait for it: a --fork'ed daemon is
// reparented to PID 1, which in some containers never reaps it, and a
// zombie looks alive to kill(pid, 0). It writes the address to the pipe
// on descriptor 3 once it listens, which is the readiness signal.
func (tok *TPMToken) startBus(t testing.TB, socket string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := tok.start(t, "dbus-daemon", nil, []*os.File{w}, "dbus-daemon",
		"--session", "--nofork", "--nopidfile", "--address=unix:path="+socket, "--print-address=3")
	w.Close()
	if err := r.SetReadDeadline(time.Now().Add(tpmReadyTimeout)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	addr := strings.TrimSpace(line)
	if err != nil || addr == "" {
		t.Fatalf("TPM token %s: dbus-daemon printed no address within %v (%v, exited: %v)\n%s",
			tok.Label, tpmReadyTimeout, err, d.exited(), tok.Logs())
	}
	return addr
}

// startAbrmd starts tpm2-abrmd against swtpm's data port and waits until
// it owns its name on the bus, which it takes after reaching the TPM.
func (tok *TPMToken) startAbrmd(t testing.TB, port int) {
	t.Helper()
	busEnv := []string{"DBUS_SESSION_BUS_ADDRESS=" + tok.Bus}
	d := tok.start(t, "tpm2-abrmd", busEnv, nil, "tpm2-abrmd", "--allow-root", "--session",
		fmt.Sprintf("--tcti=swtpm:host=127.0.0.1,port=%d", port))
	err := d.waitReady(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "dbus-send", "--session", "--print-reply",
			"--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
			"org.freedesktop.DBus.NameHasOwner", "string:"+tpmBusName)
		cmd.Env = append(cleanEnv(), busEnv...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("dbus-send NameHasOwner: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "boolean true") {
			return fmt.Errorf("%s has no owner on the bus", tpmBusName)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("TPM token %s: %v\n%s", tok.Label, err, tok.Logs())
	}
}

// start starts one daemon with its output in DIR/NAME.log and registers
// its stop with t.Cleanup, which runs cleanups last-in first-out: the
// daemons stop in the reverse of their start order.
func (tok *TPMToken) start(t testing.TB, name string, env []string, extra []*os.File, prog string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, log: filepath.Join(tok.Dir, name+".log"), done: make(chan struct{})}
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(prog, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Dir = tok.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a ^C aimed at go test must not reach the
		// daemons before cleanup does, and stop signals the whole group.
		Setpgid: true,
		// A test binary ended by go test's -timeout runs no cleanup.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("TPM token %s: start %s: %v", tok.Label, prog, err)
	}
	d.cmd = cmd
	go func() { _ = cmd.Wait(); close(d.done) }()
	tok.daemons = append(tok.daemons, d)
	t.Cleanup(func() { d.stop(t) })
	return d
}

// daemon is one background process of a TPMToken.
type daemon struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited and been reaped
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// waitReady polls ready every 20 ms until it succeeds, the daemon exits or
// tpmReadyTimeout passes.
func (d *daemon) waitReady(ready func() error) error {
	deadline := time.Now().Add(tpmReadyTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%s exited before it was ready (%v): %v", d.name, d.cmd.ProcessState, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %v", d.name, tpmReadyTimeout, err)
		}
	}
}

// stop sends SIGTERM to the daemon's process group, SIGKILL after
// tpmStopGrace, and waits until the daemon is reaped. A daemon that had
// already exited on its own is reported in the test log.
func (d *daemon) stop(t testing.TB) {
	pid := d.cmd.Process.Pid
	if d.exited() {
		t.Logf("%s (pid %d) had exited before cleanup: %v", d.name, pid, d.cmd.ProcessState)
	} else {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(tpmStopGrace):
			t.Logf("%s (pid %d) still running %v after SIGTERM; sending SIGKILL", d.name, pid, tpmStopGrace)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-d.done
		}
	}
	// Anything the daemon started in its group (dbus-daemon activates
	// services) goes too. ESRCH: nothing was left.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Logf("kill process group of %s (%d): %v", d.name, pid, err)
	}
}

// freePortPair returns a loopback TCP port P, free a moment ago along
// with P+1. swtpm's control port must be P+1: the swtpm TCTI, which
// tpm2-abrmd uses, connects to the data port plus one for control.
func freePortPair(t testing.TB) (int, int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		if p == 65535 {
			l.Close()
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return p, p + 1
		}
	}
	t.Fatal("no two adjacent free loopback ports found in 100 tries")
	return 0, 0
}
