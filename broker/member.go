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
	"github.com/gop11/gop11/broker/shared"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// InProcess opens a module in the broker's own process (isolation
// "inprocess"); cmd/gop11-broker provides it, so this package needs no cgo.
type InProcess func(m *config.Module, log zerolog.Logger) (wire.Backend, func() error, error)

// module is one configured vendor module, shared by every connection.
type module struct {
	idx   int // position in the config, +1 in handles
	cfg   config.Module
	close func() error
	// Isolation "shared" and "inprocess": one instance for every
	// connection, each with its own virtual application (shared.App); sw
	// is the worker that runs it ("shared"; nil: in the broker).
	inst *shared.Instance
	sw   *sharedWorker

	mu      sync.Mutex
	v3      *bool     // the module offers "PKCS 11" 3.x; nil: not asked yet
	crashes int       // consecutive worker deaths
	deaths  int       // every worker death, for gop11 status
	notMore time.Time // no worker starts before this (backoff)
}

// offersV3 reports whether the module offers "PKCS 11" 3.x, asking it
// with list the first time (a failed ask is asked again next time).
func (m *module) offersV3(list func() ([]wire.Interface, error)) bool {
	m.mu.Lock()
	known := m.v3
	m.mu.Unlock()
	if known != nil {
		return *known
	}
	ifaces, err := list()
	if err != nil {
		return false
	}
	v3 := wire.OffersV3(ifaces)
	m.mu.Lock()
	m.v3 = &v3
	m.mu.Unlock()
	return v3
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
	m.deaths++
	wait := 100 * time.Millisecond << min(m.crashes-1, 6)
	if wait > 5*time.Second {
		wait = 5 * time.Second
	}
	m.notMore = time.Now().Add(wait)
}

// member is one module as one connection sees it: a worker process of its
// own (isolation "process"), or its virtual application on the module's
// shared instance (in the shared worker, via, or in the broker).
type member struct {
	mod     *module
	gen     uint16 // bumped on every restart: old handles name nothing
	backend wire.Backend
	client  *wire.Client
	cmd     *exec.Cmd
	pid     int // cmd's, read once: waitWorker's Release rewrites cmd.Process.Pid
	started time.Time
	dead    atomic.Bool
	why     atomic.Value // string: why it died
	exited  chan struct{}
	app     *shared.App
	via     *member // the shared worker, when app runs in one
	log     zerolog.Logger
}

// proc is the member whose worker process runs m's calls, or m.
func (m *member) proc() *member {
	if m.via != nil {
		return m.via
	}
	return m
}

// isDead: the worker that ran m's calls is gone, and m's handles with it.
func (m *member) isDead() bool { return m.proc().dead.Load() }

// startMember gives a connection (who: its identity) a member for mod:
// its virtual application on the module's shared instance, or a worker
// of its own.
func (s *Server) startMember(mod *module, gen uint16, connID uint64, who string, log zerolog.Logger) (*member, error) {
	if mod.inst == nil {
		return s.spawnMember(mod, gen, connID, log)
	}
	m := &member{mod: mod, gen: gen, started: time.Now(), log: log}
	if mod.sw != nil {
		via, err := mod.sw.get()
		if err != nil {
			return nil, err
		}
		m.via = via
	}
	m.app = mod.inst.App(who, log)
	m.backend = mapped(wire.BackendFunc(m.app.Call))
	return m, nil
}

// InitArgsEnv carries a module's init_args to its worker: the environment
// of a process is readable by its user and root only, its command line by
// everyone.
const InitArgsEnv = "GOP11_INIT_ARGS"

// spawnMember starts a worker for mod over a socketpair and waits for its
// Welcome (the module initialized).
func (s *Server) spawnMember(mod *module, gen uint16, connID uint64, log zerolog.Logger) (*member, error) {
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
	if snap := s.snap.Load(); snap != nil {
		for t, l := range snap.cfg.Mechanisms {
			args = append(args, "--mechanism", fmt.Sprintf("%#x=%s", t, l))
		}
	}
	env := os.Environ()
	for k, v := range mod.cfg.Env {
		env = append(env, k+"="+v)
	}
	if mod.cfg.InitArgs != "" {
		env = append(env, InitArgsEnv+"="+mod.cfg.InitArgs)
	}
	cmd, out, ctrl, done, err := spawnWorker(theirs, args, env, newLaneKey(), s.WorkerUser)
	if err != nil {
		conn.Close()
		return nil, err
	}
	exited := make(chan struct{})
	pid := cmd.Process.Pid
	m := &member{mod: mod, gen: gen, cmd: cmd, pid: pid, started: time.Now(), exited: exited}
	go func() {
		e := waitWorker(cmd)
		done()
		conn.Close()
		m.dead.Store(true)
		close(exited)
		logExit(log.With().Str("module", mod.cfg.Name).Logger(), pid, e, out, m.why.Load(), func() {
			mod.died(time.Since(m.started))
			s.Metrics.WorkerDied(mod.cfg.Name)
		})
	}()
	c, err := wire.NewClient(conn, wire.Endpoint{Network: "worker", Address: mod.cfg.Name},
		wire.ClientConfig{DialTimeout: 60 * time.Second, Log: zerologWriter{log}, Lanes: ctrl.newLane, NoLanes: s.NoLanes, Relay: true}, false)
	if err != nil {
		cmd.Process.Kill()
		<-exited
		return nil, fmt.Errorf("module %s: worker: %w", mod.cfg.Name, err)
	}
	m.client = c
	m.backend = wire.Remote(c)
	log.Info().Str("module", mod.cfg.Name).Int("worker", pid).Bool("lanes", c.UsesLanes()).Msg("worker started")
	s.Metrics.WorkerStarted(mod.cfg.Name)
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
// finalizes the module and exits; stop waits for that (5 s at most). A
// virtual application closes its sessions on the shared instance.
func (m *member) stop() {
	if m.app != nil {
		if !m.isDead() {
			m.app.Close(context.Background())
		}
		v, r, apps := m.mod.inst.Counts()
		m.log.Info().Str("module", m.mod.cfg.Name).Int("virtual_sessions", v).Int("real_sessions", r).Int("connections", apps).Msg("shared module: a connection left")
		return
	}
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
	p := m.proc()
	if p.cmd != nil && d.ID != wire.CallWaitForSlotEvent && m.mod.cfg.CallTimeout > 0 {
		t := time.AfterFunc(m.mod.cfg.CallTimeout, func() {
			p.kill(fmt.Sprintf("hung: %s ran over the call timeout of %v", d.Name, m.mod.cfg.CallTimeout))
		})
		defer t.Stop()
	}
	resp, err := d.Invoke(ctx, m.backend, req)
	if err != nil && p.cmd != nil && (p.dead.Load() || p.client.Lost()) && !isRV(err) {
		return nil, errMemberDied
	}
	return resp, err
}

// sharedWorker runs a module's shared instance (isolation "shared"): one
// worker process for every connection, started with the broker (its
// probe) and again at the first call after it died.
// restarts is how many of the module's workers died (gop11 status).
func (m *module) restarts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deaths
}

// pid is the shared worker's process, or 0 when none runs.
func (w *sharedWorker) pid() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil || w.cur.cmd == nil || w.cur.isDead() {
		return 0
	}
	return w.cur.pid
}

type sharedWorker struct {
	srv *Server
	mod *module
	log zerolog.Logger

	mu     sync.Mutex
	cur    *member
	gen    uint16
	closed bool
}

// get returns the running worker, starting one if there is none. A new
// worker is a new module instance: every virtual application's sessions
// and logins on the old one are gone.
func (w *sharedWorker) get() (*member, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, wire.CKR_DEVICE_ERROR
	}
	if w.cur != nil && !w.cur.dead.Load() {
		return w.cur, nil
	}
	if w.cur != nil {
		w.mod.inst.Reset()
	}
	w.gen++
	m, err := w.srv.spawnMember(w.mod, w.gen, 0, w.log)
	if err != nil {
		w.log.Error().Err(err).Msg("cannot start the shared worker")
		return nil, wire.CKR_DEVICE_ERROR
	}
	w.cur = m
	return m, nil
}

// call runs a call of the shared instance on its worker.
func (w *sharedWorker) call(ctx context.Context, id wire.CallID, req wire.Message) (wire.Message, error) {
	w.mu.Lock()
	m := w.cur
	w.mu.Unlock()
	if m == nil || m.dead.Load() {
		return nil, errMemberDied
	}
	return wire.Lookup(id).Invoke(ctx, m.backend, req)
}

// stop ends the worker: it closes its sessions and finalizes the module.
func (w *sharedWorker) stop() error {
	w.mu.Lock()
	m := w.cur
	w.closed = true
	w.mu.Unlock()
	if m != nil {
		m.stop()
	}
	return nil
}

var errMemberDied = fmt.Errorf("worker died")

func isRV(err error) bool {
	var rv wire.RV
	return errors.As(err, &rv)
}
