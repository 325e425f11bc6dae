// Command holdconns holds many connections to a gop11 broker from one
// process, for make bench's hold_conns scenario: a connection per client
// process (hold_procs) cannot reach 10,000 on one host.
//
//	holdconns --socket PATH --n N
//
// It opens N connections (no lanes: one socket each), opens a session on
// each, then makes C_GetInfo and C_OpenSession on every one while all are
// held, prints "held N OK ERRORS FIRST" (FIRST: the first error, or "-")
// and holds them until its standard input closes.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gop11/gop11/wire"
)

func main() {
	sock := flag.String("socket", "", "the broker's unix socket")
	n := flag.Int("n", 1000, "connections to hold")
	flag.Parse()
	ep := wire.Endpoint{Network: "unix", Address: *sock}
	var conns []*wire.Client
	var errs int
	first := "-"
	fail := func(err error) {
		if errs++; first == "-" {
			first = strings.ReplaceAll(err.Error(), " ", "_")
			var rv wire.RV
			if errors.As(err, &rv) {
				first = rv.String()
			}
		}
	}
	var slot uint64
	for i := 0; i < *n; i++ {
		c, err := wire.Dial(ep, wire.ClientConfig{NoLanes: true, DialTimeout: 30 * time.Second})
		if err != nil {
			fail(err)
			continue
		}
		if i == 0 {
			var sl wire.GetSlotListResponse
			if err := c.Call(wire.CallGetSlotList, &wire.GetSlotListRequest{TokenPresent: true}, &sl); err != nil || len(sl.SlotList) == 0 {
				fmt.Fprintln(os.Stderr, "holdconns: no slot:", err)
				os.Exit(1)
			}
			slot = sl.SlotList[0]
		}
		if err := c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slot, Flags: wire.CKF_SERIAL_SESSION}, &wire.OpenSessionResponse{}); err != nil {
			fail(err)
		}
		conns = append(conns, c)
	}
	ok := 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, c := range conns {
		if ctx.Err() != nil {
			break
		}
		err := c.Call(wire.CallGetInfo, &wire.GetInfoRequest{}, &wire.GetInfoResponse{})
		if err == nil {
			err = c.Call(wire.CallOpenSession, &wire.OpenSessionRequest{SlotID: slot, Flags: wire.CKF_SERIAL_SESSION}, &wire.OpenSessionResponse{})
		}
		if err != nil {
			fail(err)
			continue
		}
		ok++
	}
	fmt.Printf("held %d %d %d %s\n", *n, ok, errs, first)
	bufio.NewReader(os.Stdin).ReadString(0) // until stdin closes
	for _, c := range conns {
		c.Close()
	}
}
