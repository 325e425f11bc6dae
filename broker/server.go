package broker

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gop11/gop11/broker/acl"
	"github.com/gop11/gop11/broker/audit"
	"github.com/gop11/gop11/broker/config"
	"github.com/gop11/gop11/broker/metrics"
	"github.com/gop11/gop11/wire"
	"github.com/rs/zerolog"
)

// Server accepts clients and gives each connection its own worker process
// that loads the vendor module for that client alone. So a client's login
// state, session objects and C_CloseAllSessions are its own, exactly as if
// the application had loaded the module itself, and a client's leftovers
// are freed when its worker exits. (See wire/PROTOCOL.md, "Why a worker
// per connection".)
type Server struct {
	Listen           []string // endpoints: unix:///path, tls://host:port or tcp://host:port
	Module           string   // quick mode: the one vendor module, every slot
	Config           *config.Config
	Metrics          *metrics.Metrics // config mode with metrics_listen; nil: none
	Audit            *audit.Log       // config mode with [audit]; nil: none
	QuickConfig      *config.Config   // quick mode's --config: [tls], insecure_tcp, [[client]] (each worker enforces them)
	OpenInProcess    InProcess        // for modules with isolation "inprocess"
	Version          string
	SocketMode       os.FileMode
	Log              zerolog.Logger
	WorkerArgs       []string // passed to every worker (log level, format)
	HandshakeTimeout time.Duration
	MaxClients       int  // connections served at once; more are refused (0: no limit)
	NoLanes          bool // offer no lanes: every call on yamux (for comparisons)
	Shared           bool // quick mode: one worker serves every connection (--isolation shared)
	// MaxLanes bounds each client connection's lanes, MaxLanesTotal the
	// lanes a serving process (the broker, the shared worker) serves.
	MaxLanes, MaxLanesTotal int
	// MaxPINFailures and MaxRealSessions: quick mode's shared worker's
	// (a config file sets them per [[module]]).
	MaxPINFailures, MaxRealSessions int
	// CallTimeout (quick mode): a worker's call running longer ends the
	// worker, and so does a worker stopped for longer; 0: none.
	CallTimeout time.Duration
	// RunAs, when set, is who the broker becomes once its listeners are
	// bound (it must start as root); its workers then run as that user.
	RunAs *syscall.Credential
	// WorkerUser, when set, is who workers run as (the broker started as
	// root): a vendor module's bug then has that user's rights, not root's.
	WorkerUser *syscall.Credential
	// MaxHandshakes bounds the connections whose handshake is under way,
	// MaxHandshakesPerPeer those of one peer (uid, or TCP address); 0: no bound.
	MaxHandshakes, MaxHandshakesPerPeer int
	InsecureTCP                         bool // quick mode: allow plaintext tcp:// on loopback
	// HandedOff: this Server is a hand-off worker's (broker/handoff.go);
	// Restarts is how many of the module's workers ran before it, and
	// ReloadBroker asks the broker to reload (gop11 reload).
	HandedOff    bool
	Restarts     int
	ReloadBroker func() ReloadResult

	wg           sync.WaitGroup
	mu           sync.Mutex
	listeners    []net.Listener
	workers      map[int]*exec.Cmd
	nextID       atomic.Uint64
	clients      atomic.Int64
	ctx          context.Context
	snap         atomic.Pointer[snapshot]
	routers      sync.Map // *router → true
	reloadMu     sync.Mutex
	grace        time.Duration
	started      time.Time // Run began, for gop11 status
	nextModule   int
	lanes        sync.Map // string(key) → *laneTarget
	pending      pendingHandshakes
	refusedLog   quietLog
	handshakeLog quietLog
	shared       sharedQuick
	tlsConfig    atomic.Pointer[tls.Config]
	acl          atomic.Pointer[acl.Set] // the policies in force; empty: none
	// objectChanges counts label, ID and handle changes made through any
	// connection, so every guard rereads what its objects filter uses.
	objectChanges atomic.Uint64
}

// laneTarget is where a lane with a given key goes: the connection that
// got the key in its Welcome.
type laneTarget struct {
	ident acl.Identity // the connection's identity (a lane's must match)
	key   []byte
	laneHandlers
}

// laneHandlers take a connection's lanes. A unix lane's socket goes to
// attach (its Hello checked); a TLS lane, its preface read, to handTLS,
// which hands its socket to the worker that serves the connection, or,
// where the broker serves it, through the broker's TLS to attachTLS.
type laneHandlers struct {
	attach    func(f *os.File) error
	attachTLS func(*wire.TLSLane) error
	handTLS   func(f *os.File) error
}

// newLaneKey makes a connection's lane key.
func newLaneKey() []byte {
	k := make([]byte, wire.LaneKeyLen)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return k
}

// offerLanes registers a connection's lanes: a key, unless the connection
// cannot have lanes, and a function to forget it. A unix connection's
// lanes must come from its uid; a TLS connection's, with a certificate
// that names the same identity.
func (s *Server) offerLanes(conn net.Conn, ident acl.Identity, h laneHandlers) (key []byte, forget func()) {
	_, isTLS := conn.(*tls.Conn)
	if s.NoLanes || (!ident.Unix && !(isTLS && (h.attachTLS != nil || h.handTLS != nil))) {
		return nil, func() {}
	}
	key = newLaneKey()
	t := &laneTarget{ident: ident, key: key, laneHandlers: h}
	id := laneIDKey(wire.LaneID(key))
	s.lanes.Store(string(key), t)
	if isTLS {
		s.lanes.Store(id, t)
	}
	return key, func() {
		s.lanes.Delete(string(key))
		s.lanes.Delete(id)
	}
}

// joinLane attaches a unix lane to the connection its key names. A lane
// of another user, or with a key nobody holds, is refused.
func (s *Server) joinLane(conn net.Conn, hello *wire.Hello, ident acl.Identity, log zerolog.Logger) {
	defer conn.Close()
	refuse := func(why string) {
		log.Warn().Str("remote", conn.RemoteAddr().String()).Msg("lane refused: " + why)
		wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Error: "lane refused: " + why})
	}
	v, ok := s.lanes.Load(string(hello.Lane))
	switch {
	case !ok:
		refuse("no connection has this key")
		return
	case !ident.Unix:
		refuse("a TLS lane begins with a lane preface")
		return
	}
	t := v.(*laneTarget)
	if !t.ident.Unix || ident.UID != t.ident.UID {
		refuse(fmt.Sprintf("peer uid %d is not the connection's (%d)", ident.UID, t.ident.UID))
		return
	}
	f, err := connFile(conn)
	if err != nil {
		refuse(err.Error())
		return
	}
	defer f.Close()
	if err := t.attach(f); err != nil {
		refuse(err.Error())
	}
}

// Run listens and serves until ctx is done, then stops accepting, asks
// every worker to finish (SIGTERM: in-flight calls end, sessions close,
// the module is finalized) and waits for them, bounded by grace.
func (s *Server) Run(ctx context.Context, grace time.Duration) error {
	if s.HandshakeTimeout <= 0 {
		s.HandshakeTimeout = 5 * time.Second
	}
	s.begin(ctx, grace)
	s.pending.maxTotal, s.pending.maxPeer = s.MaxHandshakes, s.MaxHandshakesPerPeer
	s.refusedLog.burst, s.handshakeLog.burst = 10, 10
	var tlsOn []bool
	if s.RunAs != nil {
		// Root binds the listeners (a port below 1024, a socket in a
		// directory of root's), then the broker becomes RunAs before it
		// loads a module or reads a PIN.
		cfg := cmp.Or(s.Config, s.QuickConfig)
		if cfg != nil && cfg.TLS != nil {
			tc, err := ServerTLS(cfg.TLS)
			if err != nil {
				return err
			}
			s.tlsConfig.Store(tc)
		}
		var err error
		if tlsOn, err = s.listenAll(); err != nil {
			return err
		}
		if err := becomeUser(s.RunAs); err != nil {
			s.closeListeners()
			return fmt.Errorf("--user: %w", err)
		}
		s.Log.Info().Uint32("uid", s.RunAs.Uid).Uint32("gid", s.RunAs.Gid).Msg("running as the configured user")
	}
	switch {
	case s.Config != nil:
		if m := s.handoff(); m != nil && s.WorkerUser != nil {
			s.closeListeners()
			return fmt.Errorf("module %s: handoff needs its worker to run as the broker's user (it reads the PIN files and writes the audit log): drop --worker-user, or use --user",
				m.Name)
		}
		if err := s.openConfig(); err != nil {
			s.closeListeners()
			return err
		}
		defer s.Audit.Close()
		defer s.closeInProcess()
	case s.QuickConfig != nil:
		if err := s.ReloadQuick(s.QuickConfig); err != nil {
			s.closeListeners()
			return err
		}
	}
	if s.RunAs == nil {
		var err error
		if tlsOn, err = s.listenAll(); err != nil {
			return err
		}
	}
	if s.Metrics != nil {
		if err := s.serveMetrics(s.Config.MetricsListen); err != nil {
			s.closeListeners()
			return err
		}
	}
	if s.Module != "" && s.CallTimeout > 0 {
		go s.watchStopped(s.CallTimeout)
	}
	if m := s.handoff(); m != nil && m.CallTimeout > 0 {
		go s.watchStopped(m.CallTimeout)
	}
	if s.Shared || s.handoff() != nil {
		// Started with the broker, so the first client does not wait for
		// the module to initialize; a failure is logged, and the next
		// client tries again.
		if _, err := s.sharedWorker(s.Log); err != nil {
			s.Log.Error().Err(err).Msg("cannot start the shared worker")
		}
	}
	for i, l := range s.listeners {
		s.wg.Add(1)
		go s.accept(l, tlsOn[i])
	}
	<-ctx.Done()
	s.closeListeners()
	s.stopWorkers(grace)
	s.wg.Wait() // config mode: connections close after their calls in flight
	return nil
}

// begin sets what Run and a hand-off worker's StartHandoff both start with.
func (s *Server) begin(ctx context.Context, grace time.Duration) {
	s.workers = map[int]*exec.Cmd{}
	s.ctx, s.grace, s.started = ctx, grace, time.Now()
	s.acl.Store(&acl.Set{})
}

// openConfig opens what a config-mode Server serves with: the metrics
// (a broker's hand-off worker counts the calls), the audit log, and the
// config's modules and policies. On an error the audit log is closed.
func (s *Server) openConfig() error {
	if s.Config.MetricsListen != "" {
		s.Metrics = metrics.New(s.groupStates, s.moduleSessions)
		if s.handoff() != nil {
			s.Metrics.Also = s.workerMetrics
		}
	}
	if a := s.Config.Audit; a != nil {
		level, _ := audit.ParseLevel(a.Verbosity)
		var err error
		if s.Audit, err = audit.Open(a.Path, level); err != nil {
			return err
		}
	}
	if err := s.Reload(s.Config); err != nil {
		s.Audit.Close()
		return err
	}
	return nil
}

// TLSConfig is the [tls] in force (nil: none): a hand-off worker's TLS
// lanes do their handshake with it.
func (s *Server) TLSConfig() *tls.Config { return s.tlsConfig.Load() }

// fileKind names what a file is, for an error message.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "regular file"
	}
	return "special file"
}

// listenAll opens every endpoint; on a failure it closes those it opened.
func (s *Server) listenAll() (tlsOn []bool, err error) {
	for _, e := range s.Listen {
		l, isTLS, err := s.listen(e)
		if err != nil {
			s.closeListeners()
			return nil, err
		}
		s.listeners = append(s.listeners, l)
		tlsOn = append(tlsOn, isTLS)
		s.Log.Info().Str("listen", e).Str("module", s.Module).Bool("config", s.Config != nil).Msg("serving")
	}
	return tlsOn, nil
}

// becomeUser makes the process (every thread) run as c, for good.
func becomeUser(c *syscall.Credential) error {
	gs := make([]int, len(c.Groups))
	for i, g := range c.Groups {
		gs[i] = int(g)
	}
	if err := syscall.Setgroups(gs); err != nil {
		return err
	}
	if err := syscall.Setgid(int(c.Gid)); err != nil {
		return err
	}
	return syscall.Setuid(int(c.Uid))
}

// listen opens one endpoint. tls:// listens on TCP; admit runs the TLS
// handshake, so a slow peer does not hold up the accept loop.
func (s *Server) listen(endpoint string) (l net.Listener, isTLS bool, err error) {
	ep, err := wire.ParseEndpoint(endpoint)
	if err != nil {
		return nil, false, err
	}
	switch ep.Network {
	case "unix":
		// A socket file left by a broker that died is removed; one that
		// answers belongs to a running broker, and anything that is not
		// a socket is someone's file: both stay, and the broker stops.
		if fi, err := os.Lstat(ep.Address); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, false, fmt.Errorf("listen %s: %s is a %s, not a socket: remove it or choose another path", endpoint, ep.Address, fileKind(fi.Mode()))
			}
			if c, err := net.DialTimeout("unix", ep.Address, time.Second); err == nil {
				c.Close()
				return nil, false, fmt.Errorf("listen %s: another broker is serving there", endpoint)
			}
			os.Remove(ep.Address)
		}
	case "tcp":
		insecure := s.InsecureTCP || (s.Config != nil && s.Config.InsecureTCP) || (s.QuickConfig != nil && s.QuickConfig.InsecureTCP)
		if err := config.CheckPlainTCP(ep.Address, insecure); err != nil {
			return nil, false, fmt.Errorf("listen %s: %w", endpoint, err)
		}
		s.Log.Warn().Str("listen", endpoint).Msg("plaintext TCP listener: no encryption, no authentication (insecure_tcp)")
	case "tls":
		if s.tlsConfig.Load() == nil {
			return nil, false, fmt.Errorf("listen %s: a tls:// listener needs a config file with a [tls] section", endpoint)
		}
		ep.Network, isTLS = "tcp", true
	}
	if ep.Network == "unix" {
		// The socket file is created 0600 whatever the umask, and opened
		// up to socket_mode only below: no one else can connect between
		// bind and chmod. Listeners open before anything else runs, so
		// the process-wide umask is not raced.
		old := syscall.Umask(0o177)
		l, err = net.Listen(ep.Network, ep.Address)
		syscall.Umask(old)
	} else {
		l, err = net.Listen(ep.Network, ep.Address)
	}
	if err != nil {
		return nil, false, fmt.Errorf("listen %s: %w", endpoint, err)
	}
	if ep.Network == "unix" && s.SocketMode != 0 {
		if err := os.Chmod(ep.Address, s.SocketMode); err != nil {
			l.Close()
			return nil, false, fmt.Errorf("listen %s: %w", endpoint, err)
		}
	}
	return l, isTLS, nil
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
}

func (s *Server) accept(l net.Listener, isTLS bool) {
	defer s.wg.Done()
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.Log.Error().Err(err).Msg("accept")
			time.Sleep(50 * time.Millisecond)
			continue
		}
		peer := peerKey(conn)
		if !s.pending.enter(peer) {
			conn.Close()
			if s.refusedLog.allow(s.Log, "connections refused before their handshake") {
				s.Log.Warn().Str("peer", peer).Int("max_handshakes", s.pending.maxTotal).Int("max_handshakes_per_peer", s.pending.maxPeer).
					Msg("connection refused: too many handshakes under way")
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.admit(conn, isTLS, s.pending.leave(peer))
		}()
	}
}

// admit checks the client's Hello and hands the connection to a new
// worker, which answers the Welcome once its module is initialized.
//
// Who the client is is known before any PKCS #11 call: a TLS peer by its
// verified certificate, a unix peer by SO_PEERCRED. With [[client]]
// policies, a connection that matches none is refused here.
func (s *Server) admit(conn net.Conn, isTLS bool, handshaken func()) {
	defer handshaken()
	id := s.nextID.Add(1)
	log := s.Log.With().Uint64("conn", id).Logger()
	conn.SetDeadline(time.Now().Add(s.HandshakeTimeout))
	var ident acl.Identity
	if isTLS {
		id, isLane, err := lanePreface(conn)
		if err != nil {
			log.Warn().Str("remote", conn.RemoteAddr().String()).Err(err).Msg("client refused: no TLS handshake")
			conn.Close()
			return
		}
		if isLane {
			s.joinTLSLane(conn, id, log)
			return
		}
		tc, tid, err := tlsIdentity(conn, s.tlsConfig.Load())
		if err != nil {
			log.Warn().Str("remote", conn.RemoteAddr().String()).Err(err).Msg("client refused: TLS handshake failed")
			conn.Close()
			return
		}
		conn, ident = tc, tid
	} else {
		ident = unixIdentity(conn)
	}
	hello, err := wire.ReadHello(conn)
	handshaken()
	if err != nil {
		if s.handshakeLog.allow(s.Log, "failed handshakes") {
			log.Warn().Err(err).Str("remote", conn.RemoteAddr().String()).Msg("handshake failed: connection dropped")
		}
		if hello != nil {
			wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Error: err.Error()})
		}
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	log = log.With().Str("program", hello.Program).Uint64("pid", hello.PID).Str("identity", ident.String()).Logger()
	if len(hello.Lane) > 0 {
		s.joinLane(conn, hello, ident, log)
		return
	}
	if set := s.acl.Load(); set.Enabled() {
		policy := acl.Match(set.Policies, ident)
		if policy == nil {
			log.Warn().Msg("client refused: no [[client]] matches its identity")
			wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Error: "refused: no [[client]] of the broker's config matches " + ident.String()})
			conn.Close()
			return
		}
		log = log.With().Str("client", policy.Name).Logger()
	}
	// Each client costs a worker process: a flood of connections must not
	// become a flood of processes.
	if n := s.clients.Add(1); s.MaxClients > 0 && n > int64(s.MaxClients) {
		s.clients.Add(-1)
		log.Warn().Int("max_clients", s.MaxClients).Msg("client refused: too many clients")
		wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Error: fmt.Sprintf("too many clients (limit %d)", s.MaxClients)})
		conn.Close()
		return
	}
	handoff := s.handoff() != nil // a reload cannot turn it on or off
	if s.Config != nil && !handoff {
		s.serveRouted(id, conn, ident, log)
		s.clients.Add(-1)
		return
	}
	var relayed bool
	if s.Shared || handoff {
		relayed, err = s.startShared(id, conn, ident, hello, log)
	} else {
		relayed, err = s.startWorker(id, conn, ident, log)
	}
	if err != nil {
		s.clients.Add(-1)
		log.Error().Err(err).Msg("cannot start a worker")
		wire.WriteMsg(conn, &wire.Welcome{Version: wire.ProtocolVersion, Error: "broker cannot start a worker: " + err.Error()})
	}
	if !relayed {
		conn.Close() // the worker has its own copy
	}
}

func connFile(conn net.Conn) (*os.File, error) {
	switch c := conn.(type) {
	case *net.UnixConn:
		return c.File()
	case *net.TCPConn:
		return c.File()
	}
	return nil, fmt.Errorf("connection type %T cannot be handed to a worker", conn)
}

// relay gives a worker a connection whose state lives in the broker (TLS:
// the session keys): the worker gets one end of a socketpair, and the
// broker copies between the other end and conn until either side closes.
func relay(conn net.Conn) (*os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "relay"), os.NewFile(uintptr(fds[1]), "worker")
	local, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return nil, err
	}
	go func() {
		io.Copy(local, conn)
		local.(*net.UnixConn).CloseWrite() // the worker sees the client leave
	}()
	go func() {
		io.Copy(conn, local)
		conn.Close()
		local.Close()
	}()
	return theirs, nil
}

// handOver is conn as a worker gets it: its socket, or, for a TLS
// connection, whose state is the broker's, a relay to it (relayed).
func handOver(conn net.Conn) (f *os.File, relayed bool, err error) {
	if _, relayed = conn.(*tls.Conn); relayed {
		f, err = relay(conn)
	} else {
		f, err = connFile(conn)
	}
	return f, relayed, err
}

// startWorker hands conn to a new worker. relayed: the broker keeps conn
// and copies it to the worker (TLS), so the caller must not close it.
func (s *Server) startWorker(id uint64, conn net.Conn, ident acl.Identity, log zerolog.Logger) (relayed bool, err error) {
	f, relayed, err := handOver(conn)
	if err != nil {
		return false, err
	}
	defer f.Close()
	args := append([]string{"--module", s.Module, "--conn", strconv.FormatUint(id, 10), "--max-lanes", strconv.Itoa(s.MaxLanes),
		"--call-timeout", s.CallTimeout.String()}, s.WorkerArgs...)
	if s.QuickConfig != nil {
		who, _ := json.Marshal(ident)
		args = append(args, "--config", s.QuickConfig.Path, "--identity", string(who))
	}
	// A lane may come as soon as the worker has sent its Welcome, which
	// can be before spawnWorker returns here.
	var ctrl *workerCtrl
	spawned := make(chan struct{})
	key, forget := s.offerLanes(conn, ident, laneHandlers{
		attach: func(lf *os.File) error {
			<-spawned
			return ctrl.lane(int(lf.Fd()))
		},
		handTLS: func(lf *os.File) error {
			<-spawned
			return ctrl.tlsLane(int(lf.Fd()))
		},
	})
	cmd, out, ctrl, done, err := spawnWorker(f, args, nil, key, s.WorkerUser)
	close(spawned)
	if err != nil {
		forget() // a relay ends by itself: f closes below
		return relayed, err
	}
	pid := cmd.Process.Pid
	log.Info().Int("worker", pid).Msg("client connected: worker started")
	s.mu.Lock()
	s.workers[pid] = cmd
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		e := waitWorker(cmd)
		forget()
		done()
		s.mu.Lock()
		delete(s.workers, pid)
		s.mu.Unlock()
		s.clients.Add(-1)
		logExit(log, pid, e, out, nil, func() {})
	}()
	return relayed, nil
}

// ReloadQuick applies quick mode's config file: [tls] for new
// connections, and the policies, here for new connections and in every
// worker (SIGHUP) for the next call of the connections they serve.
func (s *Server) ReloadQuick(cfg *config.Config) error {
	if cfg.TLS != nil {
		tc, err := ServerTLS(cfg.TLS)
		if err != nil {
			return err
		}
		s.tlsConfig.Store(tc)
	}
	s.acl.Store(&acl.Set{Policies: cfg.Clients})
	s.logAccess(cfg)
	s.mu.Lock()
	for _, c := range s.workers {
		c.Process.Signal(syscall.SIGHUP)
	}
	n := len(s.workers)
	s.mu.Unlock()
	s.Log.Info().Int("workers", n).Msg("configuration loaded: the workers reload their policies")
	return nil
}

// logAccess says at every (re)load whether access control is on.
func (s *Server) logAccess(cfg *config.Config) {
	if len(cfg.Clients) == 0 {
		s.Log.Warn().Msg("no [[client]] in the config: every client that can connect may use every token (socket permissions and client_ca decide who connects)")
	} else {
		s.Log.Info().Int("clients", len(cfg.Clients)).Msg("access control: connections matching no [[client]] are refused")
	}
}

func (s *Server) closeInProcess() {
	if snap := s.snap.Load(); snap != nil {
		for _, m := range snap.modules {
			if m.close != nil {
				m.close()
			}
		}
	}
}

func (s *Server) stopWorkers(grace time.Duration) {
	s.mu.Lock()
	for _, c := range s.workers {
		c.Process.Signal(syscall.SIGTERM)
	}
	n := len(s.workers)
	s.mu.Unlock()
	if n == 0 {
		return
	}
	s.Log.Info().Int("workers", n).Msg("stopping workers")
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n = len(s.workers)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	for pid, c := range s.workers {
		s.Log.Warn().Int("worker", pid).Msg("worker did not stop in time: killed")
		c.Process.Kill()
	}
	s.mu.Unlock()
}
