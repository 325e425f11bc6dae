package wire

import (
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// ProtocolVersion is the version this build speaks. A peer with another
// version is refused in the handshake; there is no negotiation yet.
const ProtocolVersion = 3 // 3: a request's head carries the caller's CPU

// Magic opens every connection, so a stray client is told apart from an
// old one.
const Magic = "gop11"

// Hello is the client's first frame, on the raw connection before yamux.
type Hello struct {
	_msgpack struct{} `msgpack:",as_array"`
	Magic    string
	Version  uint64
	Program  string // the application, for logs
	PID      uint64
	// Lane, when set, asks to join the connection whose Welcome carried
	// this key, as a lane (lane.go) rather than as a new connection.
	Lane []byte
}

// Welcome is the broker's answer. A non-empty Error refuses the client;
// the broker closes the connection after sending it.
type Welcome struct {
	_msgpack struct{} `msgpack:",as_array"`
	Version  uint64
	Error    string
	Broker   string // broker build, for logs
	// Lane is the key a client sends in a lane's Hello to join this
	// connection; empty when the server offers no lanes.
	Lane []byte
}

// ErrHandshake: the peer is not a gop11 peer of this protocol version.
var ErrHandshake = errors.New("wire: handshake refused")

// maxHandshake bounds the handshake frames.
const maxHandshake = 4096

// WriteMsg sends one msgpack message as a frame (handshake only).
func WriteMsg(w io.Writer, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFrame(w, b)
}

// ReadHello reads and checks a client's Hello.
func ReadHello(r io.Reader) (*Hello, error) {
	b, err := ReadFrame(r, maxHandshake)
	if err != nil {
		return nil, err
	}
	var h Hello
	if err := Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: hello: %v", ErrHandshake, err)
	}
	if h.Magic != Magic {
		return &h, fmt.Errorf("%w: magic %q", ErrHandshake, h.Magic)
	}
	if h.Version != ProtocolVersion {
		return &h, fmt.Errorf("%w: client speaks version %d, broker %d", ErrHandshake, h.Version, ProtocolVersion)
	}
	return &h, nil
}

// ReadWelcome reads the broker's answer and turns a refusal into an error.
func ReadWelcome(r io.Reader) (*Welcome, error) {
	b, err := ReadFrame(r, maxHandshake)
	if err != nil {
		return nil, err
	}
	var w Welcome
	if err := Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: welcome: %v", ErrHandshake, err)
	}
	if w.Error != "" {
		return &w, fmt.Errorf("%w: broker says: %s", ErrHandshake, w.Error)
	}
	if w.Version != ProtocolVersion {
		return &w, fmt.Errorf("%w: broker speaks version %d, client %d", ErrHandshake, w.Version, ProtocolVersion)
	}
	return &w, nil
}
