package robust

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
	"golang.org/x/sys/unix"
)

// TestLaneFollow: while lanes spin, the thread of a quick-mode worker that
// serves a lane runs on the CPU its client calls from; with
// --lane-follow=false (passed on to the worker) none of the worker's
// threads is held to one CPU.
func TestLaneFollow(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	if allowed.Count() < 2 {
		t.Skip("one CPU: following cannot be told from not following")
	}
	cpu := -1
	for c := 0; c < runtime.NumCPU(); c++ {
		if allowed.IsSet(c) {
			cpu = c // the last allowed CPU
		}
	}
	for _, c := range []struct {
		name   string
		args   []string
		follow bool
	}{
		{"default", nil, true},
		{"off", []string{"--lane-follow=false"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := harness.NewToken(t, "follow", "1234", "123456")
			b := harness.StartBroker(t, tok, c.args...)
			cl, err := wire.Dial(wire.Endpoint{Network: "unix", Address: b.Socket}, wire.ClientConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			done := make(chan error)
			go func() { // calls from a thread held to cpu; the thread ends with the goroutine
				runtime.LockOSThread()
				var one unix.CPUSet
				one.Set(cpu)
				if err := unix.SchedSetaffinity(0, &one); err != nil {
					done <- err
					return
				}
				for i := 0; i < 20 && err == nil; i++ {
					err = cl.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{})
				}
				done <- err
			}()
			if err := <-done; err != nil {
				t.Fatalf("C_GetInfo from CPU %d: %v", cpu, err)
			}
			worker := nextWorker(t, func() string { return readLog(b.LogPath) }, 0)
			held := heldThreads(t, worker, strconv.Itoa(cpu))
			if got := held > 0; got != c.follow {
				t.Errorf("worker %d: %d threads held to CPU %d, want following %v", worker, held, cpu, c.follow)
			}
		})
	}
}

// heldThreads counts the threads of pid whose allowed CPUs are exactly list.
func heldThreads(t *testing.T, pid int, list string) int {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "status"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	n := 0
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok && strings.TrimSpace(v) == list {
				n++
			}
		}
	}
	return n
}
