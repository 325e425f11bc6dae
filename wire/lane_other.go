//go:build !linux

package wire

import (
	"net"
	"time"
)

// Off Linux (the Windows client) there are no unix lanes, and a TLS lane
// runs on the net.Conn as Go gives it: its reads go through the runtime's
// poller, a wakeup per call, but a call still avoids yamux's two handoffs
// on each side.

func unixLanes(LaneDialer) *laneOpener { return nil }

func DialUnixLane(string, []byte, string, uint64) LaneDialer { return nil }

// currentCPU: not known here, so idle lanes are taken in any order.
func currentCPU() (int, bool) { return -1, false }

func laneSocket(nc net.Conn) (laneRaw, net.Conn, error) { return netRaw{nc}, nc, nil }

// netRaw is a net.Conn as a lane's socket: closing it wakes a blocked
// Read from any goroutine.
type netRaw struct{ net.Conn }

func (r netRaw) Shutdown() { r.Conn.Close() }

func (r netRaw) SetTimeout(d time.Duration) error {
	if d <= 0 {
		return r.Conn.SetDeadline(time.Time{})
	}
	return r.Conn.SetDeadline(time.Now().Add(d))
}
