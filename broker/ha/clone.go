package ha

import (
	"github.com/gop11/gop11/wire"
)

// zero wipes the PIN a kept request holds (a C_Login in an operation).
func zero(m wire.Message) {
	if l, ok := m.(*wire.LoginRequest); ok {
		clear(l.Pin)
	}
}
