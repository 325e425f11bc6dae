package wire

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// A data header announcing a body is held and goes out with the body; a
// header with no body (window update, ping, empty data) goes at once.
func TestCoalescing(t *testing.T) {
	a, b := socketPair(t)
	c := &coalescing{Conn: a}
	data := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3}
	update := []byte{0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0}
	empty := []byte{0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0}
	peer := func() []byte {
		buf := make([]byte, 64)
		b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _ := b.Read(buf)
		return buf[:n]
	}
	for _, step := range []struct {
		write, peerSees []byte
	}{
		{data, nil}, // held
		{[]byte("abc"), append(bytes.Clone(data), "abc"...)},
		{update, update},
		{empty, empty},
	} {
		if n, err := c.Write(step.write); err != nil || n != len(step.write) {
			t.Fatalf("Write(%x): %d, %v", step.write, n, err)
		}
		if got := peer(); !bytes.Equal(got, step.peerSees) {
			t.Fatalf("after Write(%x) the peer read %x, want %x", step.write, got, step.peerSees)
		}
	}
}

func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan net.Conn)
	go func() {
		c, _ := l.Accept()
		done <- c
	}()
	a, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-done
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
