// Command server is lanefloor's echo server in Go: floor.c's server
// (a frame in, the same frame out after WORK_US of CPU) with each
// connection a goroutine on a serving lane, as a gop11 worker serves its
// lanes, and the work a cgo call, as a vendor module's is.
//
//	server SOCKET WORK_US
package main

/*
#include <time.h>

// Burns us microseconds of this thread's CPU.
static void work(long us)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < us * 1000L);
}
*/
import "C"

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/gop11/gop11/wire"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: server SOCKET WORK_US")
		os.Exit(2)
	}
	us, err := strconv.Atoi(os.Args[2])
	if err != nil || us < 0 {
		fmt.Fprintln(os.Stderr, "server: WORK_US: want microseconds")
		os.Exit(2)
	}
	os.Remove(os.Args[1])
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: os.Args[1], Net: "unix"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	wire.SetLaneProcsBase(1) // as a worker (cmd/gop11-broker/worker.go)
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			fmt.Fprintln(os.Stderr, "server:", err)
			os.Exit(1)
		}
		if l, err := takeLane(c); err == nil {
			go serve(l, C.long(us))
		}
	}
}

// takeLane turns an accepted connection into a serving lane on a socket
// of its own (the connection's file is closed with it).
func takeLane(c *net.UnixConn) (*wire.LaneConn, error) {
	defer c.Close()
	f, err := c.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	l, err := wire.NewLaneConn(fd)
	if err != nil {
		return nil, err
	}
	l.Serving()
	return l, nil
}

func serve(l *wire.LaneConn, us C.long) {
	defer l.Close()
	var b [4096]byte
	for {
		for got := 0; got < 68; {
			n, err := l.Read(b[got:])
			if err != nil {
				return
			}
			got += n
		}
		C.work(us)
		if _, err := l.Write(b[:68]); err != nil {
			return
		}
	}
}
