package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// DefaultMaxFrame bounds one message: a 1 MiB digest input fits with room.
const DefaultMaxFrame = 16 << 20

var (
	// ErrFrameTooLarge: a peer announced a frame over the limit.
	ErrFrameTooLarge = errors.New("wire: frame over the size limit")
	// ErrMalformed: a frame's body does not decode as the message it must be.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrUnknownCall: a request names a call ID the receiver does not serve.
	ErrUnknownCall = errors.New("wire: unknown call ID")
)

// Codec reads and writes length-prefixed msgpack frames on one stream. It
// keeps its buffers between messages; it is not safe for concurrent use
// (one codec per stream, one call at a time on a stream).
type Codec struct {
	rw  io.ReadWriter
	max int
	out frameBuf
	// writev, when set, writes a frame's pieces with one system call.
	writev func([][]byte) error
	enc    *msgpack.Encoder
	in     []byte
	rd     frameReader
	dec    *msgpack.Decoder
	hdr    [4]byte
	// cpu is the CPU the caller runs on, said in the head of each request
	// (a client sets it on its lanes, per call); peerCPU is what the last
	// request read said. -1: not said.
	cpu     int
	peerCPU int
}

// NewCodec frames messages on rw, refusing frames larger than max bytes.
func NewCodec(rw io.ReadWriter, max int) *Codec {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	c := &Codec{rw: rw, max: max, cpu: -1, peerCPU: -1}
	c.enc = msgpack.NewEncoder(&c.out)
	c.dec = msgpack.NewDecoder(&c.rd)
	return c
}

// WriteFrame sends body as one frame.
func WriteFrame(w io.Writer, body []byte) error {
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame of at most max bytes.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// send encodes head (a call ID or an RV) and msg as [head, msg] in one frame.
func (c *Codec) send(head uint64, msg any) error {
	defer c.out.reset()   // keeps no reference to the caller's data
	c.out.Write(c.hdr[:]) // room for the length
	if err := c.enc.EncodeArrayLen(2); err != nil {
		return err
	}
	if err := c.enc.EncodeUint(head); err != nil {
		return err
	}
	if err := c.enc.Encode(msg); err != nil {
		return err
	}
	if c.out.n-4 > c.max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, c.out.n-4, c.max)
	}
	binary.BigEndian.PutUint32(c.out.b, uint32(c.out.n-4))
	if len(c.out.refs) == 0 {
		_, err := c.rw.Write(c.out.b)
		return err
	}
	pieces := c.out.pieces()
	if c.writev != nil {
		return c.writev(pieces)
	}
	for _, p := range pieces {
		if _, err := c.rw.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// frameBuf is a frame being encoded. A byte string of refMin bytes or more
// (the data of a 1 MiB C_Digest, say) is not copied in but kept by
// reference and written from where it is: from the application's own
// buffer, on the client, with one copy, the kernel's.
type frameBuf struct {
	b    []byte
	refs []frameRef
	n    int // the frame's length: len(b) and the refs
}

// frameRef is a byte string that goes after b[:at].
type frameRef struct {
	at int
	p  []byte
}

const refMin = 32 << 10

func (f *frameBuf) Write(p []byte) (int, error) {
	if len(p) >= refMin {
		f.refs = append(f.refs, frameRef{len(f.b), p})
	} else {
		f.b = append(f.b, p...)
	}
	f.n += len(p)
	return len(p), nil
}

func (f *frameBuf) WriteByte(c byte) error {
	f.b = append(f.b, c)
	f.n++
	return nil
}

// pieces is the frame in order: parts of b with the refs between them,
// none empty (an empty write still waits for a reader on some streams).
func (f *frameBuf) pieces() [][]byte {
	out := make([][]byte, 0, 2*len(f.refs)+1)
	at := 0
	for _, r := range f.refs {
		if r.at > at {
			out = append(out, f.b[at:r.at])
		}
		out = append(out, r.p)
		at = r.at
	}
	if at < len(f.b) {
		out = append(out, f.b[at:])
	}
	return out
}

func (f *frameBuf) reset() {
	f.b = f.b[:0]
	clear(f.refs)
	f.refs = f.refs[:0]
	f.n = 0
}

// frameReader is the body of the frame being decoded. It is what the
// msgpack decoder reads from, so decodeByteString can take a large byte
// string as a slice of the frame rather than a copy.
type frameReader struct {
	b       []byte
	i       int
	inPlace bool // a byte string of refMin or more may point into b
	items   int  // array elements the frame may still decode (MaxItems)
}

func (r *frameReader) reset(b []byte) { r.b, r.i, r.items = b, 0, MaxItems }

// Len is what is left to read.
func (r *frameReader) Len() int { return len(r.b) - r.i }

func (r *frameReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func (r *frameReader) ReadByte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	r.i++
	return r.b[r.i-1], nil
}

func (r *frameReader) UnreadByte() error {
	if r.i == 0 {
		return errors.New("wire: unread at the start of a frame")
	}
	r.i--
	return nil
}

// holds reports whether p shares memory with the frame's buffer.
func (r *frameReader) holds(p []byte) bool {
	if cap(p) == 0 || cap(r.b) == 0 {
		return false
	}
	lo, hi := uintptr(unsafe.Pointer(unsafe.SliceData(r.b))), uintptr(cap(r.b))
	at, n := uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(cap(p))
	return at < lo+hi && lo < at+n
}

func init() { msgpack.Register([]byte(nil), nil, decodeByteString) }

// decodeByteString decodes every []byte (msgpack bin or str) in place of
// the library's decoder. From a frame (whose lengths checkShape has
// checked against its size) it never refills a slice that points into the
// frame (a reused request's byte string from an earlier frame). While a request is read, a byte string of refMin or
// more becomes a slice of the frame itself. Elsewhere it decodes as the
// library does: nil stays nil, an existing buffer is reused if it fits.
func decodeByteString(d *msgpack.Decoder, v reflect.Value) error {
	n, err := d.DecodeBytesLen()
	if err != nil {
		return err
	}
	if n < 0 {
		v.SetBytes(nil)
		return nil
	}
	b := v.Bytes()
	if r, ok := d.Buffered().(*frameReader); ok {
		if r.inPlace && n >= refMin {
			v.SetBytes(r.b[r.i : r.i+n : r.i+n])
			r.i += n
			return nil
		}
		if r.holds(b) {
			b = nil
		}
	}
	if b == nil || cap(b) < n {
		b = make([]byte, n)
	}
	b = b[:n]
	if err := d.ReadFull(b); err != nil {
		return err
	}
	v.SetBytes(b)
	return nil
}

// Scrub zeroes the codec's buffers, input and output, and its reader's
// if it has one of its own (a lane's): after a call that carried a PIN.
func (c *Codec) Scrub() {
	clear(c.in[:cap(c.in)])
	clear(c.out.b[:cap(c.out.b)])
	if s, ok := c.rw.(interface{ scrub() }); ok {
		s.scrub()
	}
}

// keepFrame is the largest input buffer a codec keeps between frames.
// One 16 MiB request used to leave its buffer on the lane for good: 40
// idle lanes that had each carried one held 678 MB.
const keepFrame = 2 << 20

// ReleaseLarge drops the input buffer if it is larger than keepFrame,
// once the message read from it is no longer needed (its call answered);
// true if it did, so that the caller drops what still points into it.
func (c *Codec) ReleaseLarge() bool {
	if cap(c.in) <= keepFrame {
		return false
	}
	c.in = nil
	c.rd.reset(nil)
	return true
}

// recvHead reads one frame and decodes its head, leaving the message for
// recvBody.
func (c *Codec) recvHead() (uint64, error) {
	if _, err := io.ReadFull(c.rw, c.hdr[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(c.hdr[:])
	if int64(n) > int64(c.max) {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, c.max)
	}
	if cap(c.in) < int(n) {
		c.in = make([]byte, n)
	}
	c.in = c.in[:n]
	if _, err := io.ReadFull(c.rw, c.in); err != nil {
		return 0, err
	}
	if err := checkShape(c.in); err != nil {
		return 0, err
	}
	c.rd.reset(c.in)
	c.dec.Reset(&c.rd)
	l, err := c.dec.DecodeArrayLen()
	if err != nil || l != 2 {
		return 0, fmt.Errorf("%w: frame is not [head, body]", ErrMalformed)
	}
	h, err := c.dec.DecodeUint64()
	if err != nil {
		return 0, fmt.Errorf("%w: head: %v", ErrMalformed, err)
	}
	return h, nil
}

// recvBody decodes the rest of the frame into msg (nil skips it) and checks
// that nothing trails it.
func (c *Codec) recvBody(msg any) error {
	var err error
	if msg == nil {
		err = c.dec.Skip()
	} else {
		err = c.dec.Decode(msg)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if c.rd.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, c.rd.Len())
	}
	return nil
}

// A request's head is its call ID in the low 32 bits and, above them, the
// CPU the caller was running on plus one (0: not said). The serving end of
// a lane runs its thread there (CPUFollower).
const (
	headCPUShift = 32
	headIDMask   = 1<<headCPUShift - 1
)

// WriteRequest sends one call.
func (c *Codec) WriteRequest(id CallID, req Message) error {
	h := uint64(id)
	if c.cpu >= 0 {
		h |= uint64(c.cpu+1) << headCPUShift
	}
	return c.send(h, req)
}

// ReadRequestID reads the next request's call ID; ReadRequestBody decodes
// its arguments.
func (c *Codec) ReadRequestID() (CallID, error) {
	h, err := c.recvHead()
	c.peerCPU = int(h>>headCPUShift) - 1
	return CallID(h & headIDMask), err
}

// PeerCPU is the CPU the last request read was sent from, or -1.
func (c *Codec) PeerCPU() int { return c.peerCPU }

// ReadRequestBody decodes the arguments of the request whose ID was just
// read. A byte string of refMin bytes or more (a 1 MiB C_Digest input) is
// not copied out of the frame: req points into the codec's read buffer, so
// it is good until the next read on this codec. Serving a call before
// reading the next one, as a stream or lane does, keeps to that; a layer
// that keeps a request past its call must copy it (Reusable says the
// same).
func (c *Codec) ReadRequestBody(req Message) error {
	c.rd.inPlace = true
	defer func() { c.rd.inPlace = false }()
	return c.recvBody(req)
}

// WriteResponse sends the answer: rv, and resp when rv is CKR_OK.
func (c *Codec) WriteResponse(rv RV, resp Message) error {
	if rv != CKR_OK {
		return c.send(uint64(rv), nil)
	}
	return c.send(uint64(rv), resp)
}

// ReadResponse reads an answer into resp. A non-OK rv comes back as an RV
// error and leaves resp untouched.
func (c *Codec) ReadResponse(resp Message) error {
	h, err := c.recvHead()
	if err != nil {
		return err
	}
	if RV(h) != CKR_OK {
		if err := c.recvBody(nil); err != nil {
			return err
		}
		return RV(h)
	}
	return c.recvBody(resp)
}
