package broker

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gop11/gop11/broker/acl"
)

// TestParseShared: each control message the broker sends a shared or
// hand-off worker, and malformed ones refused.
func TestParseShared(t *testing.T) {
	conn, _ := json.Marshal(SharedConn{ID: 7, Identity: acl.Identity{UID: 1000}, LaneKey: []byte{1, 2}, Program: "pkcs11-tool", PID: 42})
	lane := binary.BigEndian.AppendUint64([]byte{ctrlLane}, 7)
	tlsLane := binary.BigEndian.AppendUint64([]byte{ctrlTLSLane}, 9)
	for _, c := range []struct {
		name string
		msg  []byte
		want CtrlMsg
		ok   bool
	}{
		{"connection", append([]byte{ctrlConn}, conn...), CtrlMsg{ID: 7, Conn: &SharedConn{ID: 7, Identity: acl.Identity{UID: 1000}, LaneKey: []byte{1, 2}, Program: "pkcs11-tool", PID: 42}}, true},
		{"lane", lane, CtrlMsg{ID: 7}, true},
		{"TLS lane", tlsLane, CtrlMsg{ID: 9, TLS: true}, true},
		{"metrics", []byte{ctrlMetrics}, CtrlMsg{Metrics: true}, true},
		{"config", append([]byte{ctrlConfig}, "/etc/gop11/broker.toml"...), CtrlMsg{ConfigPath: "/etc/gop11/broker.toml"}, true},
		{"empty", nil, CtrlMsg{}, false},
		{"unknown type", []byte{'Z', 1}, CtrlMsg{}, false},
		{"connection, bad JSON", []byte{ctrlConn, '{'}, CtrlMsg{}, false},
		{"lane, short ID", lane[:5], CtrlMsg{}, false},
		{"metrics with a body", []byte{ctrlMetrics, 0}, CtrlMsg{}, false},
		{"config without a path", []byte{ctrlConfig}, CtrlMsg{}, false},
	} {
		got, ok := parseShared(c.msg)
		if ok != c.ok || ok && !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseShared(f *testing.F) {
	f.Add([]byte{ctrlMetrics})
	f.Add(binary.BigEndian.AppendUint64([]byte{ctrlLane}, 1))
	f.Add([]byte(`C{"ID":3,"LaneKey":"AQI="}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, ok := parseShared(msg)
		if ok && m.Conn != nil && m.ID != m.Conn.ID {
			t.Errorf("a connection message's ID %d is not its connection's %d", m.ID, m.Conn.ID)
		}
	})
}
