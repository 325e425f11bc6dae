package wire

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const pollIn = 0x1 // POLLIN

// pollFd is poll(2)'s struct pollfd.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

// LaneConn is one end of a lane: a blocking stream socket. Read and Write
// block the calling goroutine's thread in the kernel, which is the point.
// Shutdown may be called from any goroutine (it wakes a blocked Read);
// Close only by the goroutine that owns the lane.
type LaneConn struct {
	mu       sync.Mutex // orders Shutdown against Close: the fd number may be reused
	fd       int
	closed   bool
	timeout  int // poll timeout in ms; -1: none
	lastData time.Time
	yield    yielder
	spin     spinner
	serving  bool // see Serving
}

// Serving marks the serving end of a lane, whose busy waits are raw
// system calls (wait).
func (l *LaneConn) Serving() { l.serving = true }

// NewLaneConn takes over fd, a connected stream socket, and makes it
// blocking.
func NewLaneConn(fd int) (*LaneConn, error) {
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	syscall.CloseOnExec(fd)
	laneOpened()
	return &LaneConn{fd: fd, timeout: -1}, nil
}

// A goroutine blocked in a system call keeps its P (the right to run Go
// code) in the runtime's syscall state; when its read returns it takes the
// P back at once, unless the runtime's monitor gave the P away meanwhile.
// A thread that finds no P sleeps until the monitor frees one, 20 us to
// 10 ms later. So with more busy lanes than Ps (GOMAXPROCS, the number of
// CPUs by default, 1 in a worker), concurrent calls queue behind each
// other: with 4 threads and 2 Ps, ECDSA signing ran no faster than with
// 1 thread. A P costs little when idle, so each lane brings its own:
// GOMAXPROCS grows to the base plus the lanes open at once, up to
// MaxLaneProcs. It does not shrink. GOMAXPROCS set in the environment
// is left alone.
var (
	lanesOpen    atomic.Int64
	procsMu      sync.Mutex
	procsBase    = runtime.GOMAXPROCS(0)
	procsFixed   = os.Getenv("GOMAXPROCS") != ""
	MaxLaneProcs = 128
)

// SetLaneProcsBase sets the GOMAXPROCS lanes add to (a worker runs with 1).
func SetLaneProcsBase(n int) {
	procsMu.Lock()
	defer procsMu.Unlock()
	procsBase = n
	if !procsFixed {
		runtime.GOMAXPROCS(max(1, min(n+int(lanesOpen.Load()), MaxLaneProcs)))
	}
}

func laneOpened() {
	n := int(lanesOpen.Add(1))
	if procsFixed {
		return
	}
	procsMu.Lock()
	defer procsMu.Unlock()
	if want := min(procsBase+n, MaxLaneProcs); runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}

// Read spins (spinner.read), then waits in poll(2) for data and reads. A
// thread blocked in read(2) on a unix socket is woken each time the peer
// consumes a message this side sent (the kernel signals "writable" on the
// same wait queue), only to find nothing and sleep again; poll filters
// that wakeup out. On these VMs a wakeup is an inter-processor interrupt,
// and a round trip costs 11.6 us instead of 13.1 (two Go processes, p50).
func (l *LaneConn) Read(p []byte) (int, error) {
	if l.timeout < 0 {
		if n, err, done := l.spin.read(l.fd, p); done {
			if err == nil {
				l.lastData = time.Now()
			}
			return n, err
		}
	}
	if err := l.wait(); err != nil {
		return 0, err
	}
	for {
		n, err := syscall.Read(l.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		l.lastData = time.Now()
		return n, nil
	}
}

// A goroutine waiting in a system call keeps its P; the runtime's monitor
// (sysmon) takes the P away from one that has sat in the same system call
// for 10 ms, or has not passed through the scheduler for 10 ms, and each
// time it does it goes back from sleeping 10 ms to polling every 20 us.
// With 64 client processes and their workers on 2 CPUs those polls were
// 16 wakeups per signature (perf: 67k nanosleeps/s). So while a lane is
// busy (data in the last hotFor) it waits in slices of pollSlice and
// passes the scheduler every yieldEvery; an idle lane waits without a
// bound and lets the monitor have its P.
//
// On the serving end a busy lane's wait is a raw system call: the runtime
// sees a goroutine running, not one in a system call, so the monitor never
// takes its P. On a loaded host a waiting thread is often not run for
// 10 ms, and each take sent the monitor back to polling: with 64 client
// processes it still woke 1.5k times a second per worker. A raw wait
// holds its P, so a serving process keeps a spare P (the broker has the
// CPUs' Ps, a worker one more than its lanes) for its other goroutines; a
// stop-the-world reaches the goroutine through the signal that interrupts
// the poll, or at the end of the slice at the latest. The client's end
// runs on the application's thread, whose P the monitor takes whenever
// the application is outside the library anyway.
//
// Both ends yield. On the client's end the calling goroutine is locked to
// the application's thread inside a cgo callback, so a yield hands it to
// another thread and back; but the P a callback holds never passes
// through the scheduler otherwise, and the monitor took it every 10 ms
// and went back to polling. Yielding there every 8 ms cut the client
// processes' monitor wakeups from 25k to 11k a second with 64 processes,
// and raised ECDSA throughput by 10-30% with 2 to 32 client processes
// and RSA at 4 threads by 12%; a single thread's latency did not move.
// The price is paid where far more threads are busy than there are CPUs:
// the thread that takes the hand-off waits for a CPU itself, and with 64
// single-threaded client processes on 2 CPUs throughput fell by 10-18%.
// Yielding only while calls were answered within 1 ms avoided that loss
// but lost the gain for slow calls (RSA at 4 threads).
const (
	pollSlice  = 5 // ms
	hotFor     = 200 * time.Millisecond
	yieldEvery = 8 * time.Millisecond
)

func (l *LaneConn) wait() error {
	pfd := pollFd{fd: int32(l.fd), events: pollIn}
	for {
		l.yield.maybe()
		t := l.timeout
		hot := t < 0 && time.Since(l.lastData) < hotFor
		if hot {
			t = pollSlice
		}
		poll := syscall.Syscall
		if hot && l.serving {
			poll = syscall.RawSyscall
		}
		n, _, e := poll(syscall.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(t))
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return e
		case n > 0:
			return nil
		case hot:
			continue
		case t >= 0:
			return syscall.EAGAIN // the handshake's timeout
		}
	}
}

// Before it blocks, a lane spins: it tries to read without blocking,
// giving the CPU to any other runnable thread between tries (sched_yield), for up to
// the lane spin (SetLaneSpin). A call's two ends take turns, so what one
// end waits for is usually the other end's next step, microseconds away:
// a client's SignInit answered, then its Sign at once. A thread blocked
// in poll(2) has to be woken, and on these VMs a wakeup is an
// inter-processor interrupt, often of a vCPU that went idle: tens of
// microseconds, where a spinning thread reads the data at its next try.
// Measured with make bench's driver on 2 CPUs, 0 against 100 us on both
// ends (two runs each): one thread's ECDSA signatures 6.9k against
// 15.4-16.8k/s, its C_GetInfo p50 7.4 against 5.6 us, its two-call
// C_GetAttributeValue 17k against 52-57k/s; 4 threads' ECDSA 14.6k
// against 16.5-19.1k/s and RSA 2.55k against 2.98-3.07k/s; 64
// single-threaded client processes 4.6k against 8.5-8.9k/s (a yield runs
// another process's turn, with no wakeup); 2 and 16 processes and 1 MiB
// digests within the noise, once the serving end follows its client's
// CPU (CPUFollower; without it, 2 processes sometimes lost a third).
// 50 us gave less at 4 threads (15.5-15.9k), 200 us less with 2
// processes (23-25k against 27-28k). The yield matters: spinning without
// it cost 4 threads 20%.
//
// Spinning costs CPU only while it pays: after spinGiveUp waits in a row
// that the spin did not cover (an application that thinks between calls,
// a vendor module that takes milliseconds), a lane stops spinning and
// tries again on one wait in spinProbe. A yielding spin gives way to any
// other thread that wants the CPU, so what it burns is otherwise idle.
// The spin itself is set in lane.go (SetLaneSpin).

const (
	spinGiveUp = 8
	spinProbe  = 64
)

type spinner struct {
	misses  int // waits in a row the spin did not cover
	skipped int // waits without a spin since spinning stopped
}

// read spins on the socket fd: it tries a read that does not block,
// giving the CPU away between tries, for up to the lane spin. done: the
// read happened (n bytes, the end of the stream or an error); false: the
// spin ran out, or is off, and nothing was read. Trying the read itself
// rather than polling first saves a system call per message, about 1 us
// on these VMs. It yields before the first try: a lane reads right after
// its own end wrote, and the answer is never there yet (a try then
// missed on nearly every call). Yielding first, in 12 paired runs with
// quick mode, won 11: ECDSA at 1 and 4 threads and a two-call
// C_GetAttributeValue 3-20% faster.
func (s *spinner) read(fd int, p []byte) (n int, err error, done bool) {
	budget := time.Duration(laneSpin.Load())
	if budget <= 0 || len(p) == 0 {
		return 0, nil, false
	}
	if s.misses >= spinGiveUp {
		if s.skipped++; s.skipped < spinProbe {
			return 0, nil, false
		}
		s.skipped = 0
	}
	start := time.Now()
	for {
		syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case e == 0:
			s.misses = 0
			if r == 0 {
				return 0, io.EOF, true
			}
			return int(r), nil, true
		case e != syscall.EAGAIN && e != syscall.EINTR:
			return 0, e, true
		}
		if time.Since(start) >= budget {
			s.misses++
			return 0, nil, false
		}
	}
}

// The serving end of a lane runs on the CPU its client's last request came
// from. Spinning keeps a call's two ends off the idle path, but it also
// keeps the kernel from placing them: a thread that never sleeps is never
// woken, and wakeups are where the scheduler moves threads. Two client
// processes could settle with both clients spinning on one CPU while both
// workers computed on the other: 18-22k signatures/s where 29-30k were
// possible. With the serving thread on its client's CPU, the two take
// turns there (each yield hands the CPU to the other) and the load
// balancer spreads the clients, whose servers follow. Measured with
// spinning on, without against with following (same build, make bench's
// driver): 2 client processes 22.1k against 29.6k/s, 4 threads' ECDSA
// 19.1k against 22.1k, RSA-2048 at 4 threads 3.06k against 3.14k; one
// thread and 64 processes unchanged. Without spinning, following made one
// thread slower (7.2k against 4.0k ECDSA signatures/s: the client, woken,
// was moved to the idle CPU each time, and its server after it), so a
// lane follows only while the lane spin is on.
//
// The thread is locked to the lane's goroutine only from the first request
// that says its CPU. A locked goroutine is costly to reschedule: each
// yield or preemption hands its P to another thread and back, two
// wakeups. A worker serving the broker's router (a relaying client, which
// says no CPU) keeps its goroutines unlocked: with 64 client processes
// through a config-mode shared module, the shared worker's CPU time per
// signature halved and throughput rose by about a sixth.
type CPUFollower struct {
	allowed unix.CPUSet
	locked  bool // the goroutine is locked to its thread
	off     bool // the thread's CPUs could not be read: no following
	on      int  // the CPU the thread is held to; -1: none
}

// NewCPUFollower returns a follower for the calling goroutine; nil when
// lanes do not spin or following is off (SetLaneFollow). Release it when
// the lane ends.
//
// On 2026-12-04, this host by then a PVM guest, paired 3 s runs of quick
// mode with and without following gave, at one client thread, C_GetInfo
// 36-39k against 63-67k calls/s, the two-call C_GetAttributeValue 16-17k
// against 19-20k, 1 MiB digests 232-271 against 317-392, ECDSA 6.2-7.7k
// against 6.5-9.1k; at 4 threads ECDSA 10.1-14.2k against 9.1-12.8k; 2
// and 64 client processes within the noise. Hence the switch; the
// default stays until make bench has measured it on more than one day.
func NewCPUFollower() *CPUFollower {
	if laneSpin.Load() <= 0 || laneNoFollow.Load() {
		return nil
	}
	return &CPUFollower{on: -1}
}

// Follow holds the thread to cpu, if the process may run there, locking
// the goroutine to it the first time; -1 or a CPU it may not use leaves
// the thread where it is.
func (f *CPUFollower) Follow(cpu int) {
	if f == nil || f.off || cpu == f.on || cpu < 0 {
		return
	}
	if !f.locked {
		runtime.LockOSThread()
		if err := unix.SchedGetaffinity(0, &f.allowed); err != nil {
			runtime.UnlockOSThread()
			f.off = true
			return
		}
		f.locked = true
	}
	if !f.allowed.IsSet(cpu) {
		return
	}
	var one unix.CPUSet
	one.Set(cpu)
	if unix.SchedSetaffinity(0, &one) == nil {
		f.on = cpu
	}
}

// Release gives the thread back its CPUs and unlocks it. If the CPUs
// cannot be restored the thread stays locked, and the runtime ends it with
// the goroutine rather than run other goroutines on one CPU.
func (f *CPUFollower) Release() {
	if f == nil || !f.locked {
		return
	}
	if f.on >= 0 && unix.SchedSetaffinity(0, &f.allowed) != nil {
		return
	}
	f.on = -1
	f.locked = false
	runtime.UnlockOSThread()
}

// yielder passes the scheduler now and then (see wait).
type yielder struct{ last time.Time }

func (y *yielder) maybe() {
	if now := time.Now(); now.Sub(y.last) >= yieldEvery {
		y.last = now
		runtime.Gosched()
	}
}

func (l *LaneConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Write(l.fd, p[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// SetTimeout bounds each Read and Write (0: no bound); the handshake uses it.
func (l *LaneConn) SetTimeout(d time.Duration) error {
	l.timeout = -1
	if d > 0 {
		l.timeout = int(max(d.Milliseconds(), 1))
	}
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	if err := syscall.SetsockoptTimeval(l.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	return syscall.SetsockoptTimeval(l.fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
}

// Shutdown ends the lane in both directions: a Read blocked on it returns.
func (l *LaneConn) Shutdown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		syscall.Shutdown(l.fd, syscall.SHUT_RDWR)
	}
}

// Close releases the socket.
func (l *LaneConn) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	lanesOpen.Add(-1)
	return syscall.Close(l.fd)
}

// Codec returns a codec on the lane that reads a message of up to 64 KiB
// with one system call.
func (l *LaneConn) Codec(max int) *Codec {
	c := NewCodec(&laneRW{r: bufio.NewReaderSize(l, laneBuf), l: l}, max)
	c.writev = l.writev
	return c
}

// laneRW is a lane as its codec reads and writes it: reads buffered.
type laneRW struct {
	r *bufio.Reader
	l *LaneConn
}

func (rw *laneRW) Read(p []byte) (int, error)  { return rw.r.Read(p) }
func (rw *laneRW) Write(p []byte) (int, error) { return rw.l.Write(p) }

// scrub overwrites the read buffer (Codec.Scrub): bufio keeps what it read
// until later reads overwrite it. Nothing is buffered between calls.
func (rw *laneRW) scrub() {
	rw.r.Reset(zeros{})
	rw.r.Peek(laneBuf) // fills the whole buffer with zeros
	rw.r.Reset(rw.l)
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// writev writes pieces (none empty) in order with as few system calls as
// the socket allows (one, unless a signal or a full buffer cuts a write
// short).
func (l *LaneConn) writev(pieces [][]byte) error {
	iov := make([]syscall.Iovec, 0, len(pieces))
	for _, p := range pieces {
		v := syscall.Iovec{Base: &p[0]}
		v.SetLen(len(p))
		iov = append(iov, v)
	}
	for len(iov) > 0 {
		n, _, e := syscall.Syscall(syscall.SYS_WRITEV, uintptr(l.fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		for n > 0 && len(iov) > 0 {
			if n >= uintptr(iov[0].Len) {
				n -= uintptr(iov[0].Len)
				iov = iov[1:]
				continue
			}
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].SetLen(int(iov[0].Len) - int(n))
			n = 0
		}
	}
	return nil
}

// DialUnixLane connects to a broker's unix socket and asks to join the
// connection that got key in its Welcome.
func DialUnixLane(path string, key []byte, program string, pid uint64) LaneDialer {
	return func() (int, error) {
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
			syscall.Close(fd)
			return -1, err
		}
		l := &LaneConn{fd: fd, timeout: -1} // not counted: NewLaneConn takes it over
		h := &Hello{Magic: Magic, Version: ProtocolVersion, Program: program, PID: pid, Lane: key}
		l.SetTimeout(5 * time.Second)
		if err := WriteMsg(l, h); err != nil {
			syscall.Close(fd)
			return -1, err
		}
		return fd, nil
	}
}

func unixLanes(dial LaneDialer) *laneOpener {
	o := laneOpener(func(timeout time.Duration, maxFrame int) (*lane, error) {
		l, err := openLane(dial, timeout)
		if err != nil {
			return nil, err
		}
		l.codec = l.conn.(*LaneConn).Codec(maxFrame)
		return l, nil
	})
	return &o
}

// openLane dials a lane and waits for the serving side's Welcome on it.
func openLane(dial LaneDialer, timeout time.Duration) (*lane, error) {
	fd, err := dial()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
	}
	l, err := NewLaneConn(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
	}
	l.SetTimeout(timeout)
	if _, err := ReadWelcome(l); err != nil {
		l.Close()
		return nil, fmt.Errorf("%w: %v", ErrNoLane, err)
	}
	l.SetTimeout(0)
	return &lane{conn: l}, nil
}

// getcpu is getcpu(2): the CPU the calling thread runs on.
func getcpu() (int, bool) {
	var cpu uint32
	_, _, e := syscall.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	return int(cpu), e == 0
}
