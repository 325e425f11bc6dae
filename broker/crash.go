package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"

	"github.com/rs/zerolog"
)

// spawnWorker starts `gop11-broker worker ARGS` with conn (the client's
// connection, or the worker's end of a socketpair) as fd 3, the read end
// of a pipe only the broker holds open as fd 4 (EOF: the broker is gone,
// the worker exits rather than outlive it), and the broker's stderr as its
// log on fd 5. Its own stderr is read for crash reports. Call done once
// the process has been waited for.
func spawnWorker(conn *os.File, args []string, env []string) (cmd *exec.Cmd, out *workerOutput, done func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	ctrlR, ctrlW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	defer ctrlR.Close()
	if out, err = newWorkerOutput(); err != nil {
		ctrlW.Close()
		return nil, nil, nil, err
	}
	cmd = exec.Command(exe, append([]string{"worker"}, args...)...)
	cmd.ExtraFiles = []*os.File{conn, ctrlR, os.Stderr}
	cmd.Stdout, cmd.Stderr = out.w, out.w
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err = cmd.Start()
	out.w.Close()
	if err != nil {
		ctrlW.Close()
		return nil, nil, nil, err
	}
	return cmd, out, func() { ctrlW.Close() }, nil
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

// logExit says how a worker ended: killed by us (why), crashed (the
// module's signal), or exited. died is called for anything but a clean exit.
func logExit(log zerolog.Logger, cmd *exec.Cmd, out *workerOutput, killed any, died func()) {
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
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
	ev.Int("worker", cmd.Process.Pid).Msg("worker exited")
}
