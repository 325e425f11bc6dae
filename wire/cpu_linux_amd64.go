package wire

import "sync"

// segmentCPU reads the calling thread's CPU the way the vDSO's getcpu
// does without RDPID: from the limit of the segment Linux sets up per
// CPU. ok: the segment is there.
func segmentCPU() (cpu uint32, ok bool)

var segmentCPUWorks = sync.OnceValue(func() bool {
	seg, ok := segmentCPU()
	sys, sysOK := getcpu()
	if !ok || !sysOK {
		return false
	}
	// The thread may move between the two reads: agree, or try once more.
	if int(seg) != sys {
		seg, _ = segmentCPU()
		sys, _ = getcpu()
	}
	return int(seg) == sys
})

// currentCPU is the CPU the calling thread runs on. A client asks before
// every call (Client.getLane); getcpu(2) is a system call, about 1 us on
// these VMs, where reading the segment takes 21 ns.
func currentCPU() (int, bool) {
	if segmentCPUWorks() {
		cpu, ok := segmentCPU()
		return int(cpu), ok
	}
	return getcpu()
}
