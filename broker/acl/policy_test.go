package acl

import (
	"strings"
	"testing"

	"github.com/gop11/gop11/wire"
)

func TestObjectPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		label   string
		id      []byte
		want    bool
	}{
		{"label:ca-*", "ca-root", nil, true},
		{"label:ca-*", "ca-", nil, true},
		{"label:ca-*", "web", nil, false},
		{"label:ca-*", "xca-root", nil, false},
		{"label:key?", "key1", nil, true},
		{"label:key?", "key10", nil, false},
		{"label:exact", "exact", nil, true},
		{"id:01*", "", []byte{0x01, 0x02}, true},
		{"id:01", "", []byte{0x01}, true},
		{"id:01*", "", []byte{0x02, 0x01}, false},
		{"id:0102*", "", []byte{0x01}, false},
		{"id:*", "", nil, true},
		{"id:AB*", "", []byte{0xab}, true},
	} {
		p, err := ParseObjectPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := p.match(tc.label, tc.id); got != tc.want {
			t.Errorf("%s on label %q id %x: %v, want %v", tc.pattern, tc.label, tc.id, got, tc.want)
		}
	}
	for _, bad := range []string{"ca-*", "label:[", "id:0", "id:zz", "id:0*1", "", "object:x"} {
		if _, err := ParseObjectPattern(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMatch(t *testing.T) {
	ca := &Policy{Name: "ca", UIDs: []int{998}}
	both := &Policy{Name: "both", UIDs: []int{1000}, GIDs: []int{50}}
	tlsOnly := &Policy{Name: "tls", CertNames: []string{"amplia.example.org"}}
	none := &Policy{Name: "none"}
	ps := []*Policy{none, ca, both, tlsOnly}
	for _, tc := range []struct {
		id   Identity
		want *Policy
	}{
		{Identity{Unix: true, UID: 998, GID: 1}, ca},
		{Identity{Unix: true, UID: 1000, GID: 50}, both},
		{Identity{Unix: true, UID: 1000, GID: 51}, nil}, // every field must match
		{Identity{Unix: true, UID: 0, GID: 0}, nil},
		{Identity{UID: 998, GID: -1, CertNames: []string{"x"}}, nil}, // uids are for unix peers
		{Identity{UID: -1, GID: -1, CertNames: []string{"other", "amplia.example.org"}}, tlsOnly},
		{Identity{Unix: true, UID: 5, CertNames: []string{"amplia.example.org"}}, tlsOnly},
	} {
		if got := Match(ps, tc.id); got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestOperationsAndMechanisms(t *testing.T) {
	all := &Policy{}
	listed := &Policy{Operations: []Operation{OpSign, OpSetPIN}, Mechanisms: []string{"CKM_ECDSA*", "CKM_SHA256_RSA_PKCS", "CKM_0x80000001"}}
	for _, op := range Operations {
		want := op != OpLoginSO && op != OpInitToken && op != OpInitPIN && op != OpSetPIN
		if all.Allows(op) != want {
			t.Errorf("empty list allows %s: %v", op, !want)
		}
		if listed.Allows(op) != (op == OpSign || op == OpSetPIN) {
			t.Errorf("listed allows %s: %v", op, listed.Allows(op))
		}
	}
	for m, want := range map[uint64]bool{
		wire.CKM_ECDSA: true, wire.CKM_ECDSA_SHA256: true, wire.CKM_SHA256_RSA_PKCS: true,
		wire.CKM_RSA_PKCS: false, wire.CKM_SHA256_RSA_PKCS_PSS: false, 0x80000001: true, 0x80000002: false,
	} {
		for range 2 { // the second answer comes from the cache
			if listed.MechanismAllowed(m) != want {
				t.Errorf("%s allowed: %v", wire.MechanismName(m), !want)
			}
		}
		if !all.MechanismAllowed(m) {
			t.Errorf("empty list denies %s", wire.MechanismName(m))
		}
	}
	if all.Guarded() || !listed.Guarded() || !(&Policy{Objects: []ObjectPattern{{Label: "*"}}}).Guarded() {
		t.Error("Guarded")
	}
}

func TestCheckMechanismPattern(t *testing.T) {
	for _, ok := range []string{"CKM_ECDSA", "CKM_ECDSA*", "CKM_SHA?_RSA_PKCS", "CKM_0x80000001", "CKM_VENDOR_DEFINED", "CKM_AES_GCM"} {
		if err := CheckMechanismPattern(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"ECDSA", "CKM_ECDSA_SHA1024", "CKM_0x8000", "CKM_[", "ckm_ecdsa"} {
		if err := CheckMechanismPattern(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestSlotsAndNobody(t *testing.T) {
	p := &Policy{Slots: []uint64{1, 3}}
	if !p.SlotVisible(1) || p.SlotVisible(2) || !(&Policy{}).SlotVisible(2) || nobody.SlotVisible(1) {
		t.Error("SlotVisible")
	}
}

func FuzzObjectPattern(f *testing.F) {
	for _, s := range []string{"label:ca-*", "id:01*", "id:", "label:[a-", "id:0*"} {
		f.Add(s, "ca-x", []byte{1})
	}
	f.Fuzz(func(t *testing.T, s, label string, id []byte) {
		p, err := ParseObjectPattern(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, "label:") && !strings.HasPrefix(s, "id:") {
			t.Fatalf("accepted %q", s)
		}
		p.match(label, id) // must not panic
		if p.String() != s {
			t.Fatalf("String %q, want %q", p.String(), s)
		}
	})
}
