package wire

// CallAdmin is not a PKCS #11 function: it asks the broker itself about
// its state (gop11 status, gop11 slots). It is outside the function
// table, so no module, policy or Backend ever sees it; a broker that does
// not serve it drops the connection as for any unknown call.
const CallAdmin CallID = 0xAD00

// AdminRequest names what is asked: "status" or "slots".
type AdminRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
	Command  string
}

// Handles visits no handles.
func (m *AdminRequest) Handles(func(HandleKind, *uint64)) {}

// AdminResponse is the answer, JSON for the CLI to print.
type AdminResponse struct {
	_msgpack struct{} `msgpack:",as_array"`
	JSON     []byte
}

// Handles visits no handles.
func (m *AdminResponse) Handles(func(HandleKind, *uint64)) {}
