//go:build linux && !amd64

package wire

// currentCPU is the CPU the calling thread runs on.
func currentCPU() (int, bool) { return getcpu() }
