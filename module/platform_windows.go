package main

/*
#include <stdlib.h>
#include <windows.h>
*/
import "C"

import (
	"os"
	"unsafe"
)

// getenv: os.Getenv asks the process itself (GetEnvironmentVariable), so
// it sees what the application set before C_Initialize; the C runtime's
// copy is the stale one here.
func getenv(name string) string { return os.Getenv(name) }

// sayLast writes a line for a debugger or DebugView
// (OutputDebugString): a Windows service's console is nobody's, and the
// application's may not be ours to write to.
func sayLast(line string) {
	cs := C.CString(line)
	defer C.free(unsafe.Pointer(cs))
	C.OutputDebugStringA(cs)
}
