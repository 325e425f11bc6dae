package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// InProcess opens a module in the broker's own process (isolation
// "inprocess"); cmd/gop11-broker provides it, so this package needs no cgo.
type InProcess func(m *config.Module, log zerolog.Logger) (wire.Backend, func() error, error)

// module is one configured vendor module, shared by every connection.
type module struct {
	idx    int // position in the config, +1 in handles
	cfg    config.Module
	shared wire.Backend // isolation "inprocess": one instance for everyone
	close  func() error

	mu      sync.Mutex
	crashes int       // consecutive worker deaths
	notMore time.Time // no worker starts before this (backoff)
}

// backoff returns how long to wait before a new worker may start, and
// records the start. After a crash the wait doubles, from 100 ms to 5 s; a
// worker that lived 30 s resets it.
func (m *module) backoff() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := time.Until(m.notMore)
	if d < 0 {
		d = 0
	}
	return d
}

func (m *module) died(lived time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if lived > 30*time.Second {
		m.crashes = 0
	}
	m.crashes++
	wait := 100 * time.Millisecond << min(m.crashes-1, 6)
	if wait > 5*time.Second {
		wait = 5 * time.Second
	}
	m.notMore = time.Now().Add(wait)
}

// member is one module as one connection sees it: a worker process of its
// own (isolation "process") or the shared in-process instance.
type member struct {
	mod     *module
	gen     uint16 // bumped on every restart: old handles name nothing
	backend wire.Backend
	client  *wire.Client
	cmd     *exec.Cmd
	started time.Time
	dead    atomic.Bool
	why     atomic.Value // string: why it died
	exited  chan struct{}
}

// startMember starts a worker for mod over a socketpair and waits for its
// Welcome (the module initialized).
func (s *Server) startMember(mod *module, gen uint16, connID uint64, log zerolog.Logger) (*member, error) {
	if mod.shared != nil {
		return &member{mod: mod, gen: gen, backend: mapped(mod.shared), started: time.Now()}, nil
	}
	if d := mod.backoff(); d > 0 {
		log.Info().Str("module", mod.cfg.Name).Dur("wait", d).Msg("worker restart backoff")
		time.Sleep(d)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "member"), os.NewFile(uintptr(fds[1]), "worker")
	defer theirs.Close()
	conn, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--module", mod.cfg.Path, "--name", mod.cfg.Name, "--conn", strconv.FormatUint(connID, 10)}, s.WorkerArgs...)
	if mod.cfg.Serialize {
		args = append(args, "--serialize")
	}
	env := os.Environ()
	for k, v := range mod.cfg.Env {
		env = append(env, k+"="+v)
	}
	cmd, out, ctrl, done, err := spawnWorker(theirs, args, env, newLaneKey())
	if err != nil {
		conn.Close()
		return nil, err
	}
	exited := make(chan struct{})
	m := &member{mod: mod, gen: gen, cmd: cmd, started: time.Now(), exited: exited}
	go func() {
		cmd.Wait()
		done()
		conn.Close()
		m.dead.Store(true)
		close(exited)
		logExit(log.With().Str("module", mod.cfg.Name).Logger(), cmd, out, m.why.Load(), func() { mod.died(time.Since(m.started)) })
	}()
	c, err := wire.NewClient(conn, wire.Endpoint{Network: "worker", Address: mod.cfg.Name},
		wire.ClientConfig{DialTimeout: 60 * time.Second, Log: zerologWriter{log}, Lanes: ctrl.newLane, NoLanes: s.NoLanes}, false)
	if err != nil {
		cmd.Process.Kill()
		<-exited
		return nil, fmt.Errorf("module %s: worker: %w", mod.cfg.Name, err)
	}
	m.client = c
	m.backend = wire.Remote(c)
	log.Info().Str("module", mod.cfg.Name).Int("worker", cmd.Process.Pid).Bool("lanes", c.UsesLanes()).Msg("worker started")
	return m, nil
}

// kill ends a member's worker (a call over its timeout, or the client gone).
func (m *member) kill(why string) {
	if m.cmd == nil {
		return
	}
	m.why.Store(why)
	m.cmd.Process.Kill()
}

// stop closes the connection to the worker, which closes the sessions,
// finalizes the module and exits; stop waits for that (5 s at most).
func (m *member) stop() {
	if m.client == nil {
		return
	}
	m.client.Close()
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		m.kill("did not finalize within 5 s of its client leaving")
	}
}

// invoke makes one call with the module's call timeout: a worker that
// overruns it is killed and the call answers CKR_DEVICE_ERROR.
func (m *member) invoke(ctx context.Context, d *wire.CallDesc, req wire.Message) (wire.Message, error) {
	if m.cmd != nil && d.ID != wire.CallWaitForSlotEvent && m.mod.cfg.CallTimeout > 0 {
		t := time.AfterFunc(m.mod.cfg.CallTimeout, func() {
			m.kill(fmt.Sprintf("hung: %s ran over the call timeout of %v", d.Name, m.mod.cfg.CallTimeout))
		})
		defer t.Stop()
	}
	resp, err := d.Invoke(ctx, m.backend, req)
	if err != nil && m.cmd != nil && (m.dead.Load() || m.client.Lost()) && !isRV(err) {
		return nil, errMemberDied
	}
	return resp, err
}

var errMemberDied = fmt.Errorf("worker died")

func isRV(err error) bool {
	var rv wire.RV
	return errors.As(err, &rv)
}
