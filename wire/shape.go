package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Unmarshal decodes one MessagePack value from b into v, after checking
// its shape: what decodes a message outside a Codec (the handshake) goes
// through here.
func Unmarshal(b []byte, v any) error {
	if err := checkShape(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

// checkShape reports whether b holds exactly one MessagePack value (of any
// nesting) whose every length and element count is backed by bytes in b.
// It runs on every frame before the frame is decoded. The msgpack library
// sizes a slice by the count a frame claims before it decodes a single
// element (v5.4.1, decodeSliceValue: its allocation limit is never
// applied), so a 90-byte request claiming 3.7 billion attributes made the
// decoder ask for 387 GB and the process die (found by FuzzRequest). Here
// every value still to be read needs at least one byte, so no claim can
// exceed the frame, whose size is bounded.
func checkShape(b []byte) error {
	pending, i := 1, 0 // values still to read; position
	for pending > 0 {
		if pending > len(b)-i {
			return fmt.Errorf("%w: %d values claimed with %d bytes left", ErrMalformed, pending, len(b)-i)
		}
		c := b[i]
		i++
		pending--
		skip, values, lenBytes := 0, 0, 0 // bytes of payload; values inside; width of a length field
		extra := 0                        // payload bytes beyond the length (an ext's type)
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixints, nil, false, true
		case c&0xf0 == 0x80: // fixmap
			values = 2 * int(c&0x0f)
		case c&0xf0 == 0x90: // fixarray
			values = int(c & 0x0f)
		case c&0xe0 == 0xa0: // fixstr
			skip = int(c & 0x1f)
		case c == 0xcc, c == 0xd0:
			skip = 1
		case c == 0xcd, c == 0xd1:
			skip = 2
		case c == 0xca, c == 0xce, c == 0xd2:
			skip = 4
		case c == 0xcb, c == 0xcf, c == 0xd3:
			skip = 8
		case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16, after a type byte
			skip = 1 + 1<<(c-0xd4)
		case c == 0xc4, c == 0xd9: // bin8, str8
			lenBytes = 1
		case c == 0xc5, c == 0xda:
			lenBytes = 2
		case c == 0xc6, c == 0xdb:
			lenBytes = 4
		case c == 0xc7, c == 0xc8, c == 0xc9: // ext 8, 16, 32
			lenBytes, extra = 1<<(c-0xc7), 1
		case c == 0xdc, c == 0xdd: // array 16, 32
			lenBytes = 2 << (c - 0xdc)
		case c == 0xde, c == 0xdf: // map 16, 32
			lenBytes = 2 << (c - 0xde)
		default: // 0xc1: never used
			return fmt.Errorf("%w: byte 0x%02x at %d is no MessagePack type", ErrMalformed, c, i-1)
		}
		if lenBytes > 0 {
			if lenBytes > len(b)-i {
				return fmt.Errorf("%w: a length runs past the end of the frame", ErrMalformed)
			}
			var n uint64
			switch lenBytes {
			case 1:
				n = uint64(b[i])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b[i:]))
			case 4:
				n = uint64(binary.BigEndian.Uint32(b[i:]))
			}
			i += lenBytes
			switch {
			case c == 0xdc || c == 0xdd:
				values = int(n)
			case c == 0xde || c == 0xdf:
				values = 2 * int(n)
			default:
				skip = int(n) + extra
			}
		}
		if skip > len(b)-i {
			return fmt.Errorf("%w: %d bytes claimed with %d left", ErrMalformed, skip, len(b)-i)
		}
		i += skip
		pending += values
	}
	if i != len(b) {
		return fmt.Errorf("%w: %d bytes after the message", ErrMalformed, len(b)-i)
	}
	return nil
}
