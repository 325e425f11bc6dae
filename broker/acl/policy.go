// Package acl is the broker's access control: who a connection is
// (Identity), what a [[client]] of broker.toml lets it do (Policy), and a
// wire.Backend that enforces a policy on every call (Guard). It is pure Go
// and never reaches a vendor module: a Guard wraps whatever Backend serves
// the connection (a router, a worker, a shared instance).
//
// Concurrency: a Policy is immutable once built and shared by every
// connection it matches. A Guard serves one connection; its methods may be
// called from many goroutines at once.
package acl

import (
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gop11/gop11/wire"
)

// Identity is who is at the other end of a connection, established before
// any PKCS #11 call: a unix peer by SO_PEERCRED, a TLS peer by its verified
// certificate.
type Identity struct {
	Unix      bool     // a unix socket peer: UID, GID and PID are set
	UID, GID  int      // -1 when unknown
	PID       int      // for logs only
	CertNames []string // TLS: the certificate's DNS SANs, then its CN
	Serial    string   // TLS: the certificate's serial, hex, for logs
	Remote    string   // the peer's address, for logs
}

// Key names who the identity is, for counting (wrong PINs): its uid, or
// its certificate's serial; never a pid or an address.
func (id Identity) Key() string {
	if id.Unix {
		return fmt.Sprintf("uid=%d", id.UID)
	}
	if id.Serial != "" {
		return "cert serial=" + id.Serial
	}
	return "anonymous"
}

// String names the identity in logs.
func (id Identity) String() string {
	if id.Unix {
		return fmt.Sprintf("uid=%d gid=%d pid=%d", id.UID, id.GID, id.PID)
	}
	if len(id.CertNames) > 0 {
		return fmt.Sprintf("cert=%s serial=%s remote=%s", strings.Join(id.CertNames, ","), id.Serial, id.Remote)
	}
	return "remote=" + id.Remote
}

// Operation is a class of PKCS #11 calls a policy may allow.
type Operation string

// The operations a [[client]]'s operations list may name.
const (
	OpSign         Operation = "sign"
	OpVerify       Operation = "verify"
	OpEncrypt      Operation = "encrypt"
	OpDecrypt      Operation = "decrypt"
	OpDigest       Operation = "digest"
	OpWrap         Operation = "wrap"
	OpUnwrap       Operation = "unwrap"
	OpDerive       Operation = "derive"
	OpGenerate     Operation = "generate"
	OpCreate       Operation = "create"
	OpCopy         Operation = "copy"
	OpDestroy      Operation = "destroy"
	OpSetAttribute Operation = "set-attribute"
	OpRead         Operation = "read" // attribute reads and find
	OpFind         Operation = "find"
	OpRandom       Operation = "random"
	OpLoginSO      Operation = "login-so"
	OpInitToken    Operation = "init-token"
	OpInitPIN      Operation = "init-pin"
	OpSetPIN       Operation = "set-pin"
)

// Operations lists every operation name, in the order documentation gives them.
var Operations = []Operation{OpSign, OpVerify, OpEncrypt, OpDecrypt, OpDigest, OpWrap, OpUnwrap,
	OpDerive, OpGenerate, OpCreate, OpCopy, OpDestroy, OpSetAttribute, OpRead, OpFind, OpRandom,
	OpLoginSO, OpInitToken, OpInitPIN, OpSetPIN}

// explicit are the operations an empty list does not allow: they change
// who can log in, so a policy must name them.
var explicit = []Operation{OpLoginSO, OpInitToken, OpInitPIN, OpSetPIN}

// Login says who logs in to the token for a client.
const (
	LoginClient = "client" // the client's PIN goes to the token
	LoginBroker = "broker" // the broker logs in with the token's pin
)

// ObjectPattern selects objects: a glob on CKA_LABEL or a hex prefix of CKA_ID.
type ObjectPattern struct {
	Label string // glob (path.Match syntax), if set
	ID    []byte // prefix of CKA_ID, if Label is not set
	text  string
}

func (p ObjectPattern) String() string { return p.text }

// ParseObjectPattern parses "label:GLOB" or "id:HEXPREFIX[*]".
func ParseObjectPattern(s string) (ObjectPattern, error) {
	switch {
	case strings.HasPrefix(s, "label:"):
		g := strings.TrimPrefix(s, "label:")
		if _, err := path.Match(g, ""); err != nil {
			return ObjectPattern{}, fmt.Errorf("%q: bad glob", s)
		}
		return ObjectPattern{Label: g, text: s}, nil
	case strings.HasPrefix(s, "id:"):
		h := strings.TrimSuffix(strings.TrimPrefix(s, "id:"), "*")
		b, err := hex.DecodeString(h)
		if err != nil || strings.Contains(h, "*") {
			return ObjectPattern{}, fmt.Errorf("%q: want id: and hex digits (an even number), optionally ending in *", s)
		}
		return ObjectPattern{ID: b, text: s}, nil
	}
	return ObjectPattern{}, fmt.Errorf("%q: want label:GLOB or id:HEXPREFIX", s)
}

func (p ObjectPattern) match(label string, id []byte) bool {
	if p.ID != nil {
		return len(id) >= len(p.ID) && string(id[:len(p.ID)]) == string(p.ID)
	}
	ok, _ := path.Match(p.Label, label)
	return ok
}

// Policy is one [[client]]: which connections it matches and what they may do.
type Policy struct {
	Name       string
	UIDs, GIDs []int
	CertNames  []string
	Slots      []uint64 // empty: every slot
	Objects    []ObjectPattern
	Mechanisms []string    // globs on CKM_ names (CKM_0x80000001 for a vendor's); empty: all
	Operations []Operation // empty: all but the explicit ones
	Login      string      // LoginClient or LoginBroker
	ReadOnly   bool
	// Admin lets the connection make admin requests (gop11 status, slots,
	// reload) besides root and the broker's own user.
	Admin bool
	// MaxSessions bounds the sessions one connection has open (0: no bound).
	MaxSessions int
	Line        int // of its [[client]] header, for logs

	nobody bool // sees nothing: see Guard.Policy

	mechMu sync.Mutex
	mechs  map[uint64]bool // mechanism type → allowed, filled as calls come
}

// Matches reports whether every identity field the policy sets matches id.
// A policy that sets none matches nobody (the config parser refuses it).
func (p *Policy) Matches(id Identity) bool {
	if len(p.UIDs) == 0 && len(p.GIDs) == 0 && len(p.CertNames) == 0 {
		return false
	}
	if len(p.UIDs) > 0 && (!id.Unix || !slices.Contains(p.UIDs, id.UID)) {
		return false
	}
	if len(p.GIDs) > 0 && (!id.Unix || !slices.Contains(p.GIDs, id.GID)) {
		return false
	}
	if len(p.CertNames) > 0 && !slices.ContainsFunc(id.CertNames, func(n string) bool { return slices.Contains(p.CertNames, n) }) {
		return false
	}
	return true
}

// Match returns the first policy that matches id, or nil.
func Match(ps []*Policy, id Identity) *Policy {
	for _, p := range ps {
		if p.Matches(id) {
			return p
		}
	}
	return nil
}

// SlotVisible reports whether the client sees slot (a virtual slot ID).
func (p *Policy) SlotVisible(slot uint64) bool {
	return !p.nobody && (len(p.Slots) == 0 || slices.Contains(p.Slots, slot))
}

// Allows reports whether the policy allows op.
func (p *Policy) Allows(op Operation) bool {
	if len(p.Operations) == 0 {
		return !slices.Contains(explicit, op)
	}
	return slices.Contains(p.Operations, op)
}

// Guarded: a client limited to some objects or operations may not extract
// keys (the key-extraction guards of Guard).
func (p *Policy) Guarded() bool { return len(p.Objects) > 0 || len(p.Operations) > 0 }

// Filters reports whether objects are filtered at all.
func (p *Policy) Filters() bool { return len(p.Objects) > 0 }

// ObjectVisible reports whether an object with this label and ID is visible.
func (p *Policy) ObjectVisible(label string, id []byte) bool {
	if len(p.Objects) == 0 {
		return true
	}
	for _, o := range p.Objects {
		if o.match(label, id) {
			return true
		}
	}
	return false
}

// MechanismAllowed reports whether mechanism t may be used.
func (p *Policy) MechanismAllowed(t uint64) bool {
	if len(p.Mechanisms) == 0 {
		return true
	}
	p.mechMu.Lock()
	defer p.mechMu.Unlock()
	if ok, seen := p.mechs[t]; seen {
		return ok
	}
	name := wire.MechanismName(t)
	ok := false
	for _, g := range p.Mechanisms {
		if m, _ := path.Match(g, name); m {
			ok = true
			break
		}
	}
	if p.mechs == nil {
		p.mechs = map[uint64]bool{}
	}
	p.mechs[t] = ok
	return ok
}

// CheckMechanismPattern checks one entry of a mechanisms list: a glob
// whose plain form (without * ? [) is a known CKM_ name or CKM_0x%08X.
func CheckMechanismPattern(s string) error {
	if _, err := path.Match(s, ""); err != nil || !strings.HasPrefix(s, "CKM_") {
		return fmt.Errorf("%q: want a CKM_ name, a glob such as CKM_ECDSA*, or CKM_0x%%08X", s)
	}
	if strings.ContainsAny(s, "*?[") {
		return nil
	}
	if v, ok := strings.CutPrefix(s, "CKM_0x"); ok {
		if _, err := strconv.ParseUint(v, 16, 32); err == nil && len(v) == 8 {
			return nil
		}
	}
	if !knownMechanisms()[s] {
		return fmt.Errorf("%q: not a mechanism this broker knows (a vendor's: CKM_0x%%08X)", s)
	}
	return nil
}

// knownMechanisms are the names wire.MechanismName knows: the spec's
// mechanism types are below 0x4000, plus CKM_VENDOR_DEFINED.
var knownMechanisms = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for t := uint64(0); t < 0x4000; t++ {
		if n := wire.MechanismName(t); !strings.HasPrefix(n, "CKM_0x") {
			m[n] = true
		}
	}
	m[wire.MechanismName(wire.CKM_VENDOR_DEFINED)] = true
	return m
})
