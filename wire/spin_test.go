package wire

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func spinPair(t *testing.T) (rd, wr int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	return fds[0], fds[1]
}

func withLaneSpin(t *testing.T, d time.Duration) {
	t.Helper()
	SetLaneSpin(d)
	t.Cleanup(func() { SetLaneSpin(DefaultLaneSpin) })
}

// timedRead runs one spinner read of a byte and says how long it took.
func timedRead(s *spinner, fd int) (bool, byte, time.Duration) {
	start := time.Now()
	var b [1]byte
	n, err, done := s.read(fd, b[:])
	if done && (n != 1 || err != nil) {
		panic(fmt.Sprintf("spinner read: %d bytes, %v", n, err))
	}
	return done, b[0], time.Since(start)
}

func TestSpinnerFindsDataAndGivesUp(t *testing.T) {
	// A long budget wherever the test must not depend on this goroutine
	// or the writer being scheduled promptly (a loaded CI host), a short
	// one where each wait must run it out.
	const long, short = 5 * time.Second, 20 * time.Millisecond
	withLaneSpin(t, long)
	rd, wr := spinPair(t)
	var s spinner

	// Data that is already there, or arrives within the spin, is read
	// without blocking.
	syscall.Write(wr, []byte{1})
	if ok, b, _ := timedRead(&s, rd); !ok || b != 1 || s.misses != 0 {
		t.Fatalf("data waiting: ok=%v byte %d misses=%d, want true, 1, 0", ok, b, s.misses)
	}
	go func() {
		time.Sleep(5 * time.Millisecond)
		syscall.Write(wr, []byte{2})
	}()
	if ok, b, _ := timedRead(&s, rd); !ok || b != 2 {
		t.Fatalf("data written during the spin: ok=%v byte %d, want true, 2", ok, b)
	}

	// Nothing arrives: each wait spins its whole budget and counts a miss,
	// until spinGiveUp misses in a row stop the spinning.
	SetLaneSpin(short)
	for i := 1; i <= spinGiveUp; i++ {
		ok, _, took := timedRead(&s, rd)
		if ok || took < short || s.misses != i {
			t.Fatalf("miss %d: ok=%v took %v misses=%d; want false, >= %v, %d", i, ok, took, s.misses, short, i)
		}
	}
	// Given up: a wait does not spin (with the long budget, a spin would
	// take seconds) until one in spinProbe tries again.
	SetLaneSpin(long)
	for i := 1; i < spinProbe; i++ {
		if ok, _, took := timedRead(&s, rd); ok || took >= long/2 {
			t.Fatalf("wait %d after giving up: ok=%v took %v; want an immediate false", i, ok, took)
		}
	}
	// The probe spins; a hit starts spinning for good.
	syscall.Write(wr, []byte{3})
	if ok, b, _ := timedRead(&s, rd); !ok || b != 3 || s.misses != 0 {
		t.Fatalf("probe with data: ok=%v byte %d misses=%d, want true, 3, 0", ok, b, s.misses)
	}
	// The peer hangs up: the spin reads the end of the stream.
	syscall.Shutdown(wr, syscall.SHUT_WR)
	if _, err, done := s.read(rd, make([]byte, 1)); !done || err != io.EOF {
		t.Fatalf("peer gone: done=%v err=%v, want true, EOF", done, err)
	}
}

func TestSpinnerOff(t *testing.T) {
	withLaneSpin(t, 0)
	rd, wr := spinPair(t)
	var s spinner
	syscall.Write(wr, []byte{1})
	if ok, _, _ := timedRead(&s, rd); ok {
		t.Fatal("a lane spin of 0 spun")
	}
}

// A spinning lane still reads every byte in order, and sees the peer
// hang up as the end of the stream.
func TestSpinningLaneReadsAndSeesHangUp(t *testing.T) {
	withLaneSpin(t, 5*time.Millisecond)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewLaneConn(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewLaneConn(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; i < 100; i++ {
			b.Write([]byte{byte(i)})
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		b.Close()
	}()
	got, err := io.ReadAll(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 {
		t.Fatalf("read %d bytes, want 100", len(got))
	}
	for i, c := range got {
		if c != byte(i) {
			t.Fatalf("byte %d is %d", i, c)
		}
	}
}

// A lane's requests carry the caller's CPU in their head; the call ID
// comes through unchanged, and a codec that does not say it reads -1.
func TestRequestHeadCarriesCPU(t *testing.T) {
	for _, cpu := range []int{3, -1} {
		var buf bytes.Buffer
		w, r := NewCodec(&buf, 0), NewCodec(&buf, 0)
		w.cpu = cpu
		if err := w.WriteRequest(CallSign, &SignRequest{Session: 7, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		id, err := r.ReadRequestID()
		if err != nil || id != CallSign {
			t.Fatalf("cpu %d: id %v, %v; want %v", cpu, id, err, CallSign)
		}
		var req SignRequest
		if err := r.ReadRequestBody(&req); err != nil || req.Session != 7 {
			t.Fatalf("cpu %d: body %+v, %v", cpu, req, err)
		}
		if got := r.PeerCPU(); got != cpu {
			t.Errorf("peer CPU %d, want %d", got, cpu)
		}
	}
	var allowed unix.CPUSet
	unix.SchedGetaffinity(0, &allowed)
	if cpu, ok := currentCPU(); !ok || cpu < 0 || !allowed.IsSet(cpu) {
		t.Errorf("currentCPU: %d, %v; want one of the process's %d CPUs", cpu, ok, allowed.Count())
	}
}

// A follower holds its thread to the CPU it is told, if the process may
// use it, and ignores what it may not.
func TestCPUFollower(t *testing.T) {
	withLaneSpin(t, DefaultLaneSpin)
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	target := -1
	for cpu := 0; cpu < runtime.NumCPU(); cpu++ {
		if allowed.IsSet(cpu) {
			target = cpu // the last allowed CPU
		}
	}
	done := make(chan string)
	go func() { // the follower locks this goroutine's thread, which then ends with it
		f := NewCPUFollower()
		if f == nil {
			done <- "no follower with the lane spin on"
			return
		}
		if f.Follow(-1); f.locked {
			done <- "a follower told no CPU locked its thread"
			return
		}
		f.Follow(target)
		var now unix.CPUSet
		unix.SchedGetaffinity(0, &now)
		if now.Count() != 1 || !now.IsSet(target) {
			done <- fmt.Sprintf("after Follow(%d) the thread may run on %d CPUs", target, now.Count())
			return
		}
		f.Follow(-1)
		f.Follow(1 << 20)
		unix.SchedGetaffinity(0, &now)
		if now.Count() != 1 || !now.IsSet(target) {
			done <- "Follow(-1) or an impossible CPU moved the thread"
			return
		}
		f.Release()
		unix.SchedGetaffinity(0, &now)
		if now != allowed {
			done <- fmt.Sprintf("after Release the thread may run on %d CPUs, want %d", now.Count(), allowed.Count())
			return
		}
		done <- ""
	}()
	if msg := <-done; msg != "" {
		t.Fatal(msg)
	}
	SetLaneSpin(0)
	if NewCPUFollower() != nil {
		t.Fatal("a follower with the lane spin off")
	}
}

// A caller gets an idle lane whose last call came from its own CPU when
// there is one (its serving thread is there already), else any idle lane;
// the lane's requests say that CPU, and the lane goes back to its pool.
func TestIdleLanePreferredOnTheCallersCPU(t *testing.T) {
	done := make(chan string)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var allowed, one unix.CPUSet
		unix.SchedGetaffinity(0, &allowed)
		defer unix.SchedSetaffinity(0, &allowed)
		cpu := 0
		for !allowed.IsSet(cpu) {
			cpu++
		}
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			done <- err.Error()
			return
		}
		c := &Client{idleLanes: []chan *lane{make(chan *lane, 4), make(chan *lane, 4)}, lanes: map[*lane]struct{}{}}
		var sent bytes.Buffer
		mine, other := &lane{codec: NewCodec(&sent, 0), cpu: cpu}, &lane{codec: NewCodec(&sent, 0), cpu: cpu + 1}
		c.putLane(other)
		c.putLane(mine)
		got := c.getLane()
		if got != mine {
			done <- "the lane last used from the caller's CPU was not taken first"
			return
		}
		got.codec.WriteRequest(CallGetInfo, &GetInfoRequest{})
		r := NewCodec(&sent, 0)
		if _, err := r.ReadRequestID(); err != nil || r.PeerCPU() != cpu {
			done <- fmt.Sprintf("the request says CPU %d (%v), want %d", r.PeerCPU(), err, cpu)
			return
		}
		c.putLane(got)
		if got := c.getLane(); got != mine {
			done <- "the lane did not go back to its CPU's pool"
			return
		}
		if got := c.getLane(); got != other {
			done <- "with none idle on the caller's CPU, another CPU's idle lane was not taken"
			return
		}
		done <- ""
	}()
	if msg := <-done; msg != "" {
		t.Fatal(msg)
	}
}

// A relayed call says its caller's CPU only while 2 to NumCPU relayed
// calls are in flight.
func TestRelayedCPU(t *testing.T) {
	n := int64(runtime.NumCPU())
	two := -1 // with one CPU, never
	if n >= 2 {
		two = 5
	}
	for _, tc := range []struct {
		inflight int64
		want     int
	}{
		{1, -1},
		{2, two},
		{n + 1, -1},
		{n + 60, -1},
	} {
		if got := relayedCPU(tc.inflight, 5); got != tc.want {
			t.Errorf("%d in flight on %d CPUs: CPU %d, want %d", tc.inflight, n, got, tc.want)
		}
	}
}

// currentCPU says the CPU the thread is held to, on each CPU the process
// may use.
func TestCurrentCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &allowed)
	tried := 0
	for cpu := 0; cpu < 1024 && tried < allowed.Count(); cpu++ {
		if !allowed.IsSet(cpu) {
			continue
		}
		tried++
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			t.Fatal(err)
		}
		if got, ok := currentCPU(); !ok || got != cpu {
			t.Errorf("held to CPU %d: currentCPU says %d, %v", cpu, got, ok)
		}
		if got, ok := getcpu(); !ok || got != cpu {
			t.Errorf("held to CPU %d: getcpu(2) says %d, %v", cpu, got, ok)
		}
	}
}

// A follower exists only while lanes spin and following is on.
func TestLaneFollowSwitch(t *testing.T) {
	t.Cleanup(func() { SetLaneFollow(true) })
	for _, c := range []struct {
		spin   time.Duration
		follow bool
		want   bool
	}{
		{DefaultLaneSpin, true, true},
		{DefaultLaneSpin, false, false},
		{0, true, false},
		{0, false, false},
	} {
		withLaneSpin(t, c.spin)
		SetLaneFollow(c.follow)
		f := NewCPUFollower()
		if got := f != nil; got != c.want {
			t.Errorf("spin %v, follow %v: a follower: %v, want %v", c.spin, c.follow, got, c.want)
		}
		f.Release()
	}
}
