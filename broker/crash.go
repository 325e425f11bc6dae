package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// spawnWorker starts `gop11-broker worker ARGS` with conn (the client's
// connection, or the worker's end of a socketpair) as fd 3, its end of a
// control socket as fd 4 (EOF there: the broker is gone, the worker exits
// rather than outlive it), and the broker's stderr as its log on fd 5. Its
// own stderr is read for crash reports. laneKey (empty: no lanes) is the
// first control message; lanes follow on the same socket (ctrl.lane). Call
// done once the process has been waited for. as, when set, is the user
// the worker runs as (--worker-user).
func spawnWorker(conn *os.File, args []string, env []string, laneKey []byte, as *syscall.Credential) (cmd *exec.Cmd, out *workerOutput, ctrl *workerCtrl, done func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	theirs := os.NewFile(uintptr(fds[1]), "ctrl")
	defer theirs.Close()
	mine := os.NewFile(uintptr(fds[0]), "ctrl")
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ctrl = &workerCtrl{c: c.(*net.UnixConn)}
	if err := ctrl.send(append([]byte{ctrlKey}, laneKey...), -1); err != nil {
		ctrl.c.Close()
		return nil, nil, nil, nil, err
	}
	if out, err = newWorkerOutput(); err != nil {
		ctrl.c.Close()
		return nil, nil, nil, nil, err
	}
	cmd = exec.Command(exe, append([]string{"worker"}, args...)...)
	cmd.ExtraFiles = []*os.File{conn, theirs, os.Stderr}
	cmd.Stdout, cmd.Stderr = out.w, out.w
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: as}
	err = onSpawnThread(cmd.Start)
	out.w.Close()
	if err != nil {
		ctrl.c.Close()
		return nil, nil, nil, nil, err
	}
	return cmd, out, ctrl, func() { ctrl.c.Close() }, nil
}

// Pdeathsig fires when the thread that started the child ends, not the
// process, and the Go runtime ends a thread whenever a goroutine that
// holds one (runtime.LockOSThread) returns: a lane's goroutine holds its
// thread to run on its client's CPU (wire.CPUFollower). Before lanes gave
// their threads back, a worker started from any thread that later served
// a lane was killed when that lane ended (in config mode, at every
// disconnect), and any goroutine that locks a thread and returns would do
// the same. So every worker is started from one thread that a goroutine
// holds for the life of the broker; a worker also inherits that thread's
// CPUs, never a lane thread's single one.
var (
	spawnOnce sync.Once
	spawnReqs = make(chan func())
)

func onSpawnThread(start func() error) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked, never returns
			for f := range spawnReqs {
				f()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- func() { done <- start() }
	return <-done
}

// Control messages to a worker: the first byte says what it is.
const (
	ctrlKey     = 'K' // the rest is the lane key for the worker's Welcome
	ctrlLane    = 'L' // a lane's socket rides along (SCM_RIGHTS)
	ctrlTLSLane = 'T' // a TLS lane's socket, its preface read, rides along
)

// workerCtrl is the broker's end of a worker's control socket.
type workerCtrl struct{ c *net.UnixConn }

func (w *workerCtrl) send(msg []byte, fd int) error {
	var oob []byte
	if fd >= 0 {
		oob = syscall.UnixRights(fd)
	}
	_, _, err := w.c.WriteMsgUnix(msg, oob, nil)
	return err
}

// lane hands the worker a lane's socket. The worker has its own copy once
// this returns; the caller closes its own.
func (w *workerCtrl) lane(fd int) error { return w.send([]byte{ctrlLane}, fd) }

// tlsLane hands the worker a TLS lane's TCP socket: the worker runs the
// lane's TLS handshake and checks its Hello (AcceptTLSLane).
func (w *workerCtrl) tlsLane(fd int) error { return w.send([]byte{ctrlTLSLane}, fd) }

// newLane makes a socketpair, hands one end to the worker as a lane and
// returns the other: the broker's lanes to a member worker.
func (w *workerCtrl) newLane() (int, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	err = w.lane(fds[1])
	syscall.Close(fds[1])
	if err != nil {
		syscall.Close(fds[0])
		return -1, err
	}
	return fds[0], nil
}

// CtrlLane is a lane's socket the broker handed a worker.
type CtrlLane struct {
	FD  int
	TLS bool // a TLS lane, its preface read: AcceptTLSLane
}

// ctrlSocket takes over a worker's control socket (f).
func ctrlSocket(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("control socket is a %T", c)
	}
	return uc, nil
}

// ReadCtrl is the worker's side: it returns the lane key (the first
// message) and a channel of the lanes that follow. The channel closes when
// the broker is gone (EOF).
func ReadCtrl(f *os.File) (key []byte, lanes <-chan CtrlLane, err error) {
	uc, err := ctrlSocket(f)
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 64)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	n, _, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil || n == 0 || buf[0] != ctrlKey {
		return nil, nil, fmt.Errorf("control socket: no key message (%v)", err)
	}
	key = append([]byte(nil), buf[1:n]...)
	ch := make(chan CtrlLane, 64)
	go func() {
		defer close(ch)
		for {
			n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
			if err != nil || n == 0 {
				return
			}
			for _, fd := range parseRights(oob[:oobn]) {
				if buf[0] == ctrlLane || buf[0] == ctrlTLSLane {
					ch <- CtrlLane{FD: fd, TLS: buf[0] == ctrlTLSLane}
				} else {
					syscall.Close(fd)
				}
			}
		}
	}()
	return key, ch, nil
}

func parseRights(oob []byte) []int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if r, err := syscall.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

// workerOutput is a worker's stderr as the broker reads it. The worker
// logs to fd 5, the broker's own stderr, so its lines keep their order
// with the calls; stray JSON lines on stderr pass through too. When
// a vendor module crashes the process, the worker's Go runtime prints a
// report instead of dying by the signal ("SIGABRT: abort", "signal
// SIGSEGV: segmentation violation"...); that report is kept (its first
// lines), not spilled into the log, and reason() names the signal.
type workerOutput struct {
	w    *os.File
	done chan struct{}

	mu     sync.Mutex
	why    string
	report []string
}

var sigName = regexp.MustCompile(`\bSIG(ABRT|SEGV|BUS|ILL|FPE|TRAP|SYS)\b[:]? ?([a-z ]*)`)

func newWorkerOutput() (*workerOutput, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &workerOutput{w: w, done: make(chan struct{})}
	go o.read(r)
	return o, nil
}

func (o *workerOutput) read(r io.ReadCloser) {
	defer close(o.done)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 0 && line[0] == '{' {
			os.Stderr.Write(append(bytes.Clone(line), '\n'))
			continue
		}
		o.mu.Lock()
		if len(o.report) < 20 {
			o.report = append(o.report, string(line))
		}
		if o.why == "" {
			if m := sigName.FindSubmatch(line); m != nil {
				o.why = "SIG" + string(m[1])
				if d := bytes.TrimSpace(m[2]); len(d) > 0 {
					o.why += " (" + string(d) + ")"
				}
			} else if bytes.HasPrefix(line, []byte("panic: ")) || bytes.HasPrefix(line, []byte("fatal error: ")) {
				o.why = string(line)
			}
		}
		o.mu.Unlock()
	}
}

// reason waits for the worker's stderr to close and returns what killed
// it ("SIGABRT (abort)", "SIGSEGV (segmentation violation)", a Go panic),
// or "" for a clean exit, with the first lines of its report.
func (o *workerOutput) reason() (string, []string) {
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.why, o.report
}

// exitState is how a worker's process ended.
type exitState struct {
	ws syscall.WaitStatus
	ru syscall.Rusage
}

// waitWorker waits for cmd's process to end and reaps it, in the network
// poller on a pidfd: a worker being waited for costs no thread. With
// cmd.Wait each held one blocked in waitid, and thousands of broker
// threads stayed after the clients had left (the runtime keeps threads
// it made). Without pidfds it falls back to cmd.Wait.
func waitWorker(cmd *exec.Cmd) exitState {
	var e exitState
	pid := cmd.Process.Pid
	if fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil {
			reaped := false
			rc.Read(func(uintptr) bool { // false: wait until the pidfd is readable (the process ended)
				n, err := syscall.Wait4(pid, &e.ws, syscall.WNOHANG, &e.ru)
				reaped = n == pid || (err != nil && err != syscall.EINTR)
				return reaped
			})
			if reaped {
				cmd.Process.Release()
				return e
			}
		}
	}
	cmd.Wait()
	e.ws, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		e.ru = *ru
	}
	return e
}

// logExit says how worker pid ended: killed by us (why), crashed (the
// module's signal), or exited. died is called for anything but a clean exit.
func logExit(log zerolog.Logger, pid int, e exitState, out *workerOutput, killed any, died func()) {
	ws := e.ws
	crash, report := out.reason()
	why, _ := killed.(string)
	ev := log.Info()
	switch {
	case why != "":
		ev = log.Error()
	case crash != "":
		why = "crashed: " + crash
		ev = log.Error().Strs("report", report)
	case ws.Signaled():
		why = "crashed: " + ws.Signal().String()
		ev = log.Error()
	case ws.ExitStatus() != 0:
		why = fmt.Sprintf("exited with status %d", ws.ExitStatus())
		ev = log.Warn()
	}
	if why != "" {
		died()
		ev = ev.Str("why", why)
	}
	// Its peak memory, for whoever asks what a client cost.
	ev.Int64("max_rss_kib", e.ru.Maxrss).Int("worker", pid).Msg("worker exited")
}

// watchStopped kills workers that stay stopped (SIGSTOP, a debugger that
// went away) longer than timeout: a stopped worker cannot time out its
// own calls, and its client would wait forever. Quick mode only; in config
// mode the router times every call.
func (s *Server) watchStopped(timeout time.Duration) {
	stoppedSince := map[int]time.Time{}
	tick := time.NewTicker(min(timeout/2, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		pids := make([]int, 0, len(s.workers))
		for pid := range s.workers {
			pids = append(pids, pid)
		}
		s.mu.Unlock()
		now := time.Now()
		seen := map[int]bool{}
		for _, pid := range pids {
			if !processStopped(pid) {
				continue
			}
			seen[pid] = true
			since, ok := stoppedSince[pid]
			if !ok {
				stoppedSince[pid] = now
				continue
			}
			if now.Sub(since) >= timeout {
				s.Log.Error().Int("worker", pid).Dur("call_timeout", timeout).Msg("worker stopped for longer than the call timeout: killed, its client's calls fail")
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		for pid := range stoppedSince {
			if !seen[pid] {
				delete(stoppedSince, pid)
			}
		}
	}
}

// processStopped reports whether pid is stopped (state T or t in /proc).
func processStopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: comm may hold spaces and parentheses; the state
	// follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't')
}
