//go:build !windows

package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"os"
	"unsafe"
)

// getenv reads the application's environment as it is now, through libc:
// the Go runtime of a shared library keeps the copy it took when the
// library was loaded, so an application's setenv before C_Initialize
// would not be seen by os.Getenv.
func getenv(name string) string {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	v := C.getenv(cs)
	if v == nil {
		return ""
	}
	return C.GoString(v)
}

// sayLast writes a line the application's user will see: its stderr.
func sayLast(line string) { fmt.Fprintln(os.Stderr, line) }
