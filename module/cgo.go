// Command module is libgop11.so: the PKCS #11 module applications load in
// place of their vendor library. It is the client's only cgo: it turns C
// arguments into wire values, calls the broker and writes the answers back
// into the application's memory. Everything else lives in module/client
// and wire, in pure Go.
//
// Concurrency: the application may call from any number of threads; each
// call runs on the calling thread and takes its own multiplexed stream.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -Wall
#include "gop11.h"
*/
import "C"

func main() {}
