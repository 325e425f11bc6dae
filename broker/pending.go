package broker

import (
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Connections that have not finished their handshake (no Hello yet) cost
// a socket and a goroutine until the handshake timeout: ~20,000 of them
// reached the broker's file limit and real clients waited seconds. So
// they are bounded, per peer (a unix peer's uid, a TCP peer's address) and
// in all; past a bound a connection is closed at once. The per-peer bound
// keeps room for everyone else while one peer floods.
type pendingHandshakes struct {
	maxTotal, maxPeer int

	mu      sync.Mutex
	total   int
	perPeer map[string]int
}

// enter records a connection from peer starting its handshake; false: a
// bound is reached and the connection must be refused.
func (p *pendingHandshakes) enter(peer string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if (p.maxTotal > 0 && p.total >= p.maxTotal) || (p.maxPeer > 0 && p.perPeer[peer] >= p.maxPeer) {
		return false
	}
	if p.perPeer == nil {
		p.perPeer = map[string]int{}
	}
	p.total++
	p.perPeer[peer]++
	return true
}

// leave ends what enter began; the returned function does it once.
func (p *pendingHandshakes) leave(peer string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.total--
			if p.perPeer[peer]--; p.perPeer[peer] <= 0 {
				delete(p.perPeer, peer)
			}
		})
	}
}

// peerKey names who a new connection comes from, for the per-peer bound.
func peerKey(conn net.Conn) string {
	if id := unixIdentity(conn); id.Unix {
		return id.Key()
	}
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return conn.RemoteAddr().String()
}

// quietLog lets through at most burst lines a second of one kind and
// says, once a second, how many it held back: a flood of refusals must
// not become a flood of log lines.
type quietLog struct {
	burst int

	mu      sync.Mutex
	start   time.Time
	n, held int
}

// allow reports whether a line may be logged now.
func (q *quietLog) allow(log zerolog.Logger, what string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	if now.Sub(q.start) >= time.Second {
		if q.held > 0 {
			log.Warn().Int("lines_held_back", q.held).Msg(what + ": more in the last second than the log takes")
		}
		q.start, q.n, q.held = now, 0, 0
	}
	if q.n < q.burst {
		q.n++
		return true
	}
	q.held++
	return false
}
