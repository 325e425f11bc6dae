package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/broker/metrics"
	"github.com/gop11/gop11/wire"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Quick mode with --isolation shared: one worker process runs the module
// for every connection. The broker hands it each connection and each
// connection's lanes, as it would to a worker of the connection's own, so
// calls take no extra hop; the worker keeps a virtual application per
// connection (broker/shared) and says on its control socket when a
// connection has ended.

// SharedConn is what the broker tells the shared worker of a connection
// it hands over (the socket rides along).
type SharedConn struct {
	ID       uint64
	Identity acl.Identity
	LaneKey  []byte
	Program  string // the client's, from its Hello, for the logs
	PID      uint64
}

// Control messages of the shared worker, beyond a worker's: a connection
// (JSON SharedConn), and from the worker a connection's end. Lane
// messages name their connection: the type, then its ID (8 bytes).
const (
	ctrlConn    = 'C'
	ctrlAck     = 'A' // from the worker: it has connection ID (8 bytes follow)
	ctrlEnd     = 'E'
	ctrlMetrics = 'M' // to a hand-off worker: write your metrics into the socket that rides along
	ctrlConfig  = 'F' // to a hand-off worker: the config (its path follows), in the memfd that rides along
	// From a hand-off worker: read the config file again (gop11 reload);
	// the answer, a JSON ReloadResult, follows the new config.
	ctrlReload   = 'R'
	ctrlReloaded = 'r'
)

// sharedQuick is the broker's side of the shared worker.
type sharedQuick struct {
	mu     sync.Mutex
	cur    *sharedProc // the running worker; nil: none
	starts int         // workers started
}

// sharedProc is one shared worker process. Its state is its own, so that
// what the broker learns of a worker that died (late) never touches the
// next one's.
type sharedProc struct {
	pid     int
	ctrl    *workerCtrl
	forgets map[uint64]func()      // its connections' lane keys, to forget when one ends
	pending map[uint64]pendingConn // connections sent, not yet acknowledged
	exited  chan struct{}          // closed once it has exited and its connections are forgotten
}

// pendingConn is a connection handed to a worker that has not said it
// took it: once it does, its forget moves to the worker's forgets.
type pendingConn struct {
	forget func()
	acked  chan struct{}
}

// startShared hands conn to the shared worker, starting it if it is not
// running. relayed: as startWorker's.
func (s *Server) startShared(id uint64, conn net.Conn, ident acl.Identity, hello *wire.Hello, log zerolog.Logger) (relayed bool, err error) {
	if _, err := s.sharedWorker(log); err != nil { // before the hand-over: the client still gets the refusal
		return false, err
	}
	f, relayed, err := handOver(conn)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var target atomic.Pointer[workerCtrl] // the worker that took the connection, for its lanes
	send := func(kind byte, lf *os.File) error {
		return target.Load().send(binary.BigEndian.AppendUint64([]byte{kind}, id), int(lf.Fd()))
	}
	key, forget := s.offerLanes(conn, ident, laneHandlers{
		attach:  func(lf *os.File) error { return send(ctrlLane, lf) },
		handTLS: func(lf *os.File) error { return send(ctrlTLSLane, lf) },
	})
	msg, _ := json.Marshal(SharedConn{ID: id, Identity: ident, LaneKey: key, Program: hello.Program, PID: hello.PID})
	// The worker acknowledges the connection as soon as it reads it. One
	// that dies first (a hung call ends it, or a crash) takes it with
	// it, unread, and the broker, which still holds the socket, gives it
	// to the next worker: the client sees nothing of it.
	q := &s.shared
	for try := 1; ; try++ {
		q.mu.Lock()
		p, err := s.sharedWorkerLocked(log)
		if err != nil {
			q.mu.Unlock()
			forget()
			return relayed, err
		}
		target.Store(p.ctrl)
		acked := make(chan struct{})
		p.pending[id] = pendingConn{forget: forget, acked: acked}
		err = p.ctrl.send(append([]byte{ctrlConn}, msg...), int(f.Fd()))
		if err != nil {
			delete(p.pending, id)
		}
		q.mu.Unlock()
		if err == nil {
			select {
			case <-acked:
				log.Info().Msg("client connected: handed to the shared worker")
				return relayed, nil
			case <-p.exited:
				err = errors.New("the shared worker died before it took the connection")
			case <-time.After(ackWait):
				err = fmt.Errorf("the shared worker did not take the connection in %v: killed", ackWait)
				syscall.Kill(p.pid, syscall.SIGKILL) // its control loop is stuck; its end frees the connection for another
			}
		}
		q.mu.Lock()
		delete(p.pending, id)
		q.mu.Unlock()
		if try == 3 {
			forget()
			return relayed, err
		}
		log.Warn().Err(err).Msg("handing the connection to a new shared worker")
		select { // so that the next try starts another
		case <-p.exited:
		case <-time.After(ackWait):
			syscall.Kill(p.pid, syscall.SIGKILL)
			<-p.exited
		}
	}
}

// ackWait bounds how long a shared worker may take to acknowledge a
// connection it was handed (its control loop does nothing else).
const ackWait = 10 * time.Second

// workerMetrics asks the hand-off worker for its metrics, which it writes
// into a socket that rides along with the request.
func (s *Server) workerMetrics() ([]*dto.MetricFamily, error) {
	q := &s.shared
	q.mu.Lock()
	p := q.cur
	q.mu.Unlock()
	if p == nil {
		return nil, errors.New("the hand-off worker is not running")
	}
	ctrl := p.ctrl
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	err = ctrl.send([]byte{ctrlMetrics}, fds[1])
	syscall.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "metrics")
	defer f.Close()
	if err != nil {
		return nil, err
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return metrics.Read(c)
}

// reload gives a running hand-off worker the config cfg.
func (q *sharedQuick) reload(cfg *config.Config, log zerolog.Logger) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cur != nil {
		if err := q.cur.ctrl.sendConfig(cfg); err != nil {
			log.Error().Err(err).Msg("reload: the hand-off worker keeps the running config")
		}
	}
}

// sendConfig gives a hand-off worker the config file as the broker read
// it, in a memfd: the worker may not be able to read the file itself (a
// broker started as root read it before it became --user).
func (w *workerCtrl) sendConfig(cfg *config.Config) error {
	fd, err := unix.MemfdCreate("gop11-config", unix.MFD_CLOEXEC)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "config")
	defer f.Close()
	if _, err := f.Write(cfg.Raw); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return w.send(append([]byte{ctrlConfig}, cfg.Path...), int(f.Fd()))
}

// acked moves connection id, which worker p says it took, to its
// connections.
func (q *sharedQuick) acked(p *sharedProc, id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c, ok := p.pending[id]; ok {
		delete(p.pending, id)
		p.forgets[id] = c.forget
		close(c.acked)
	}
}

// ended forgets a connection worker p has finished with.
func (q *sharedQuick) ended(p *sharedProc, id uint64) (known bool) {
	q.mu.Lock()
	forget, ok := p.forgets[id]
	delete(p.forgets, id)
	q.mu.Unlock()
	if ok {
		forget()
	}
	return ok
}

// sharedWorker returns the running shared worker, starting it first if
// there is none.
func (s *Server) sharedWorker(log zerolog.Logger) (*sharedProc, error) {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	return s.sharedWorkerLocked(log)
}

// sharedWorkerLocked is sharedWorker with s.shared.mu held.
func (s *Server) sharedWorkerLocked(log zerolog.Logger) (*sharedProc, error) {
	q := &s.shared
	if q.cur != nil {
		return q.cur, nil
	}
	lanes := []string{"--max-lanes", strconv.Itoa(s.MaxLanes), "--max-lanes-total", strconv.Itoa(s.MaxLanesTotal)}
	var args []string
	name := "" // the module's, for the metrics
	if s.Config != nil {
		// Config mode's hand-off worker gets the config from the broker
		// (sendConfig), now and at each reload.
		name = s.handoff().Name
		args = append(append([]string{"--handoff", "--restarts", strconv.Itoa(q.starts)}, lanes...), s.WorkerArgs...)
	} else {
		args = append(append([]string{"--module", s.Module, "--shared", "--call-timeout", s.CallTimeout.String(),
			"--max-pin-failures", strconv.Itoa(s.MaxPINFailures), "--max-real-sessions", strconv.Itoa(s.MaxRealSessions)}, lanes...), s.WorkerArgs...)
		if s.QuickConfig != nil {
			args = append(args, "--config", s.QuickConfig.Path)
		}
	}
	cmd, out, ctrl, done, err := spawnWorker(nil, args, nil, nil, s.WorkerUser)
	if err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	if s.Config != nil {
		if err := ctrl.sendConfig(s.snap.Load().cfg); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			done()
			return nil, fmt.Errorf("the hand-off worker did not take the config: %w", err)
		}
	}
	log.Info().Int("worker", pid).Msg("shared worker started")
	s.Metrics.WorkerStarted(name)
	p := &sharedProc{pid: pid, ctrl: ctrl, forgets: map[uint64]func(){}, pending: map[uint64]pendingConn{}, exited: make(chan struct{})}
	q.cur = p
	q.starts++
	s.mu.Lock()
	s.workers[pid] = cmd
	s.mu.Unlock()
	go func() { // the worker's word that a connection ended
		buf := make([]byte, 64)
		for {
			n, _, _, _, err := ctrl.c.ReadMsgUnix(buf, nil)
			if err != nil || n == 0 {
				return
			}
			switch {
			case buf[0] == ctrlAck && n == 9:
				q.acked(p, binary.BigEndian.Uint64(buf[1:9]))
			case buf[0] == ctrlEnd && n == 9 && q.ended(p, binary.BigEndian.Uint64(buf[1:9])):
				s.clients.Add(-1)
			case buf[0] == ctrlReload && n == 1 && s.Config != nil:
				go func() {
					msg, _ := json.Marshal(s.reloadFile())
					ctrl.send(append([]byte{ctrlReloaded}, msg...), -1)
				}()
			}
		}
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		e := waitWorker(cmd)
		q.mu.Lock()
		if q.cur == p {
			q.cur = nil
		}
		lost := p.forgets
		p.forgets = map[uint64]func(){}
		q.mu.Unlock()
		for _, forget := range lost { // its connections went with it
			forget()
			s.clients.Add(-1)
		}
		close(p.exited) // connections it never took go to the next worker (startShared)
		done()
		s.mu.Lock()
		delete(s.workers, pid)
		s.mu.Unlock()
		logExit(log, pid, e, out, nil, func() { s.Metrics.WorkerDied(name) })
	}()
	return p, nil
}

// CtrlMsg is a message to the shared worker: a connection (Conn, its
// socket in FD), a lane of connection ID (FD; TLS: its preface read),
// (Metrics) a socket to write the metrics into, or (ConfigPath) the
// config file's bytes in FD.
type CtrlMsg struct {
	Conn       *SharedConn
	ID         uint64
	FD         int
	TLS        bool
	Metrics    bool
	ConfigPath string
}

// SharedCtrl is the shared worker's side of its control socket.
type SharedCtrl struct {
	// Msgs brings the messages that come, until the broker is gone (it
	// closes then). A malformed message is dropped, its socket closed.
	Msgs     <-chan CtrlMsg
	uc       *net.UnixConn
	reloadMu sync.Mutex
	reloaded chan ReloadResult
}

// ReadSharedCtrl reads the shared worker's control socket, fd f.
func ReadSharedCtrl(f *os.File) (*SharedCtrl, error) {
	uc, err := ctrlSocket(f)
	if err != nil {
		return nil, err
	}
	ch := make(chan CtrlMsg, 64)
	c := &SharedCtrl{Msgs: ch, uc: uc, reloaded: make(chan ReloadResult, 1)}
	go func() {
		defer close(ch)
		buf := make([]byte, 64<<10)
		oob := make([]byte, syscall.CmsgSpace(4*4))
		for {
			n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
			if err != nil || n == 0 {
				return
			}
			fds := parseRights(oob[:oobn])
			if buf[0] == ctrlReloaded && len(fds) == 0 {
				var r ReloadResult
				if json.Unmarshal(buf[1:n], &r) != nil {
					r.Error = "the broker's answer does not decode"
				}
				select {
				case c.reloaded <- r:
				default: // nobody asked
				}
				continue
			}
			m, ok := parseShared(buf[:n])
			if !ok || len(fds) != 1 {
				for _, fd := range fds {
					syscall.Close(fd)
				}
				continue
			}
			m.FD = fds[0]
			if m.Conn != nil { // it is ours now: the broker may let its copy go
				uc.WriteMsgUnix(binary.BigEndian.AppendUint64([]byte{ctrlAck}, m.ID), nil, nil)
			}
			ch <- m
		}
	}()
	return c, nil
}

// Ended tells the broker a connection has ended.
func (c *SharedCtrl) Ended(id uint64) {
	c.uc.WriteMsgUnix(binary.BigEndian.AppendUint64([]byte{ctrlEnd}, id), nil, nil)
}

// ReloadBroker asks the broker to read its config file again (gop11
// reload through a connection of a hand-off worker's), which it then
// sends the worker, and returns the broker's answer.
func (c *SharedCtrl) ReloadBroker() ReloadResult {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	select {
	case <-c.reloaded: // a late answer to an earlier request
	default:
	}
	if _, _, err := c.uc.WriteMsgUnix([]byte{ctrlReload}, nil, nil); err != nil {
		return ReloadResult{Error: "the broker is gone: " + err.Error()}
	}
	select {
	case r := <-c.reloaded:
		return r
	case <-time.After(time.Minute):
		return ReloadResult{Error: "the broker did not answer the reload"}
	}
}

func parseShared(msg []byte) (CtrlMsg, bool) {
	if len(msg) == 0 {
		return CtrlMsg{}, false
	}
	switch msg[0] {
	case ctrlConn:
		var sc SharedConn
		if json.Unmarshal(msg[1:], &sc) != nil {
			return CtrlMsg{}, false
		}
		return CtrlMsg{Conn: &sc, ID: sc.ID}, true
	case ctrlMetrics:
		return CtrlMsg{Metrics: true}, len(msg) == 1
	case ctrlConfig:
		return CtrlMsg{ConfigPath: string(msg[1:])}, len(msg) > 1
	case ctrlLane, ctrlTLSLane:
		if len(msg) != 9 {
			return CtrlMsg{}, false
		}
		return CtrlMsg{ID: binary.BigEndian.Uint64(msg[1:]), TLS: msg[0] == ctrlTLSLane}, true
	}
	return CtrlMsg{}, false
}
