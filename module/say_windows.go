package main

/*
#include <windows.h>
*/
import "C"

import "unsafe"

// sayLast writes a line for a debugger or DebugView
// (OutputDebugString): a Windows service's console is nobody's, and the
// application's may not be ours to write to.
func sayLast(line string) {
	cs := C.CString(line)
	defer C.free(unsafe.Pointer(cs))
	C.OutputDebugStringA(cs)
}
