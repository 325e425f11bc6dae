package access

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gop11/gop11/wire"
	"github.com/miekg/pkcs11"
)

// The Go client. A test writes a script, a list of steps, and runs this
// binary (often as another user) with the script in GOP11_ACCESS_SCRIPT
// and the module to load in GOP11_ACCESS_MODULE. The client runs the
// steps in order against the module through github.com/miekg/pkcs11 and
// prints a report: one JSON line at every "pause" step (then it waits for
// a line on stdin before it goes on) and one at the end.
//
// A step's answer is its return value's CKR_ name and, for steps that
// read something, a value. Handles that steps make are kept in variables
// named by As, so later steps can name them, and are reported, so that
// another client can be handed them.

const (
	scriptEnv = "GOP11_ACCESS_SCRIPT"
	moduleEnv = "GOP11_ACCESS_MODULE"
)

// attr is one template attribute: T its type, and one of B, N, S, X.
type attr struct {
	T uint    `json:"t"`
	B *bool   `json:"b,omitempty"`
	N *uint   `json:"n,omitempty"`
	S *string `json:"s,omitempty"`
	X []byte  `json:"x,omitempty"`
}

func aBool(t uint, v bool) attr    { return attr{T: t, B: &v} }
func aNum(t uint, v uint) attr     { return attr{T: t, N: &v} }
func aStr(t uint, v string) attr   { return attr{T: t, S: &v} }
func aBytes(t uint, v []byte) attr { return attr{T: t, X: v} }

// aRead is a template that asks for these attributes' values.
func aRead(types ...uint) []attr {
	out := make([]attr, len(types))
	for i, t := range types {
		out[i].T = t
	}
	return out
}

func (a attr) p11() *pkcs11.Attribute {
	switch {
	case a.B != nil:
		return pkcs11.NewAttribute(a.T, *a.B)
	case a.N != nil:
		return pkcs11.NewAttribute(a.T, *a.N)
	case a.S != nil:
		return pkcs11.NewAttribute(a.T, *a.S)
	case a.X != nil:
		return pkcs11.NewAttribute(a.T, a.X)
	}
	return pkcs11.NewAttribute(a.T, nil)
}

func template(as []attr) []*pkcs11.Attribute {
	out := make([]*pkcs11.Attribute, len(as))
	for i, a := range as {
		out[i] = a.p11()
	}
	return out
}

// step is one call (or a few) of a script. Name keys its answer in the
// report (no name: not reported). Want is for the test, not the client:
// the expected CKR_ name, then optionally "|" and the expected value;
// Rule, when set, says the broker must log the step's denial with a rule
// starting so, and Label with that object label (see script.check).
type step struct {
	Name  string `json:"name,omitempty"`
	Op    string `json:"op"`
	Slot  uint   `json:"slot,omitempty"`
	S     string `json:"s,omitempty"` // session variable
	O     string `json:"o,omitempty"` // object variable: the key, the object
	W     string `json:"w,omitempty"` // object variable: the wrapping or unwrapping key
	H     []uint `json:"h,omitempty"` // handles to probe: these,
	L     string `json:"l,omitempty"` // and the list variable L
	Mech  uint   `json:"mech,omitempty"`
	RW    bool   `json:"rw,omitempty"`
	User  uint   `json:"user,omitempty"`
	PIN   string `json:"pin,omitempty"`
	N     int    `json:"n,omitempty"`
	Data  []byte `json:"data,omitempty"`
	Attrs []attr `json:"attrs,omitempty"`
	Priv  []attr `json:"priv,omitempty"` // genpair: the private key's template (Attrs: the public's)
	As    string `json:"as,omitempty"`   // variable the step's new handle (getattr, wrap: bytes) goes to
	From  string `json:"from,omitempty"` // variable holding bytes: derive's peer EC point, unwrap-by-decrypt's input

	Want  string `json:"-"`
	Rule  string `json:"-"`
	Label string `json:"-"`
}

// answer is what a step returned.
type answer struct {
	RV string `json:"rv"`
	V  string `json:"v,omitempty"`
}

// report is what the client prints at a pause and at the end.
type report struct {
	Answers map[string]answer `json:"answers"`
	Vars    map[string]uint   `json:"vars"`   // single handles by variable
	Lists   map[string][]uint `json:"lists"`  // what each find found
	Paused  string            `json:"paused"` // the pause step's name; "" at the end
	PID     int               `json:"pid"`
	Error   string            `json:"error,omitempty"`
}

type runner struct {
	mu    sync.Mutex // smine, for open-parallel
	p     *pkcs11.Ctx
	r     report
	in    *bufio.Reader
	mine  map[uint]bool // session and object handles this client got
	smine map[uint]bool
	bytes map[string][]byte // values getattr kept
}

func rvName(err error) string {
	if err == nil {
		return "CKR_OK"
	}
	var e pkcs11.Error
	if errors.As(err, &e) {
		return wire.RV(e).String()
	}
	return "error: " + err.Error()
}

func scriptMain() int {
	var steps []step
	if err := json.Unmarshal([]byte(os.Getenv(scriptEnv)), &steps); err != nil {
		fmt.Fprintln(os.Stderr, "bad script:", err)
		return 2
	}
	r := &runner{in: bufio.NewReader(os.Stdin), mine: map[uint]bool{}, smine: map[uint]bool{}, bytes: map[string][]byte{},
		r: report{Answers: map[string]answer{}, Vars: map[string]uint{}, Lists: map[string][]uint{}, PID: os.Getpid()}}
	r.p = pkcs11.New(os.Getenv(moduleEnv))
	if r.p == nil {
		r.r.Error = "cannot load " + os.Getenv(moduleEnv)
		r.print()
		return 2
	}
	err := r.p.Initialize()
	r.r.Answers["initialize"] = answer{RV: rvName(err)}
	if err == nil {
		for _, s := range steps {
			r.run(s)
		}
		r.p.Finalize()
	}
	r.print()
	return 0
}

func (r *runner) print() {
	b, _ := json.Marshal(r.r)
	os.Stdout.Write(append(b, '\n'))
}

func (r *runner) set(s step, err error, v string) {
	if s.Name != "" {
		r.r.Answers[s.Name] = answer{RV: rvName(err), V: v}
	}
}

func (r *runner) sess(s step) pkcs11.SessionHandle { return pkcs11.SessionHandle(r.r.Vars[s.S]) }
func (r *runner) obj(v string) pkcs11.ObjectHandle { return pkcs11.ObjectHandle(r.r.Vars[v]) }

func mech(m uint) []*pkcs11.Mechanism { return []*pkcs11.Mechanism{pkcs11.NewMechanism(m, nil)} }

// keep stores a new handle in the step's variable.
func (r *runner) keep(s step, h uint, err error) {
	if err == nil && s.As != "" {
		r.r.Vars[s.As] = h
		r.mine[h] = true
	}
}

func (r *runner) run(s step) {
	p := r.p
	data := s.Data
	if data == nil {
		data = make([]byte, 32)
	}
	switch s.Op {
	case "slots":
		ids, err := p.GetSlotList(true)
		r.set(s, err, joinUints(ids))
	case "slotinfo":
		_, err := p.GetSlotInfo(s.Slot)
		r.set(s, err, "")
	case "tokeninfo":
		ti, err := p.GetTokenInfo(s.Slot)
		r.set(s, err, "write-protected="+strconv.FormatBool(ti.Flags&pkcs11.CKF_WRITE_PROTECTED != 0))
	case "mechs":
		ms, err := p.GetMechanismList(s.Slot)
		var names []string
		for _, m := range ms {
			names = append(names, wire.MechanismName(uint64(m.Mechanism)))
		}
		r.set(s, err, strings.Join(names, ","))
	case "mechinfo":
		_, err := p.GetMechanismInfo(s.Slot, mech(s.Mech))
		r.set(s, err, "")
	case "open":
		flags := uint(pkcs11.CKF_SERIAL_SESSION)
		if s.RW {
			flags |= pkcs11.CKF_RW_SESSION
		}
		h, err := p.OpenSession(s.Slot, flags)
		r.keep(s, uint(h), err)
		if err == nil {
			r.smine[uint(h)] = true
		}
		r.set(s, err, "")
	case "open-max":
		// Sessions until the broker says no; the value is how many
		// opened. They are closed again.
		var opened []pkcs11.SessionHandle
		var err error
		for len(opened) < 32 {
			var h pkcs11.SessionHandle
			if h, err = p.OpenSession(s.Slot, pkcs11.CKF_SERIAL_SESSION); err != nil {
				break
			}
			opened = append(opened, h)
		}
		for _, h := range opened {
			p.CloseSession(h)
		}
		r.set(s, err, strconv.Itoa(len(opened)))
	case "open-parallel":
		// N sessions opened at once, from N goroutines; the value is
		// how many opened, the answer the first refusal. They stay open.
		errs := make(chan error, s.N)
		for i := 0; i < s.N; i++ {
			go func() {
				h, err := p.OpenSession(s.Slot, pkcs11.CKF_SERIAL_SESSION)
				if err == nil {
					r.mu.Lock()
					r.smine[uint(h)] = true
					r.mu.Unlock()
				}
				errs <- err
			}()
		}
		var first error
		opened := 0
		for i := 0; i < s.N; i++ {
			if err := <-errs; err == nil {
				opened++
			} else if first == nil {
				first = err
			}
		}
		r.set(s, first, strconv.Itoa(opened))
	case "close":
		r.set(s, p.CloseSession(r.sess(s)), "")
	case "closeall":
		r.set(s, p.CloseAllSessions(s.Slot), "")
	case "login":
		r.set(s, p.Login(r.sess(s), s.User, s.PIN), "")
	case "logout":
		r.set(s, p.Logout(r.sess(s)), "")
	case "sessinfo":
		si, err := p.GetSessionInfo(r.sess(s))
		r.set(s, err, "state="+strconv.FormatUint(uint64(si.State), 10))
	case "find":
		hs, err := r.find(r.sess(s), template(s.Attrs))
		if s.As != "" && err == nil {
			r.r.Lists[s.As] = hs
			for _, h := range hs {
				r.mine[h] = true
			}
			if len(hs) > 0 {
				r.r.Vars[s.As] = hs[0]
			}
		}
		r.set(s, err, r.labels(r.sess(s), hs))
	case "getattr":
		vs, err := p.GetAttributeValue(r.sess(s), r.obj(s.O), template(s.Attrs))
		var out []string
		for _, v := range vs {
			out = append(out, showAttr(v))
		}
		if err == nil && s.As != "" {
			r.bytes[s.As] = vs[0].Value
		}
		r.set(s, err, strings.Join(out, ","))
	case "setattr":
		r.set(s, p.SetAttributeValue(r.sess(s), r.obj(s.O), template(s.Attrs)), "")
	case "sign":
		err := p.SignInit(r.sess(s), mech(s.Mech), r.obj(s.O))
		var sig []byte
		if err == nil {
			sig, err = p.Sign(r.sess(s), data)
		}
		r.set(s, err, strconv.Itoa(len(sig)))
	case "verifyinit":
		r.set(s, p.VerifyInit(r.sess(s), mech(s.Mech), r.obj(s.O)), "")
	case "random":
		b, err := p.GenerateRandom(r.sess(s), s.N)
		r.set(s, err, strconv.Itoa(len(b)))
	case "create":
		h, err := p.CreateObject(r.sess(s), template(s.Attrs))
		r.keep(s, uint(h), err)
		r.set(s, err, "")
	case "copy":
		h, err := p.CopyObject(r.sess(s), r.obj(s.O), template(s.Attrs))
		r.keep(s, uint(h), err)
		r.set(s, err, "")
	case "destroy":
		r.set(s, p.DestroyObject(r.sess(s), r.obj(s.O)), "")
	case "genkey":
		h, err := p.GenerateKey(r.sess(s), mech(s.Mech), template(s.Attrs))
		r.keep(s, uint(h), err)
		r.set(s, err, "")
	case "genpair":
		_, h, err := p.GenerateKeyPair(r.sess(s), mech(s.Mech), template(s.Attrs), template(s.Priv))
		r.keep(s, uint(h), err)
		r.set(s, err, "")
	case "wrap":
		b, err := p.WrapKey(r.sess(s), mech(s.Mech), r.obj(s.W), r.obj(s.O))
		if err == nil && s.As != "" {
			r.bytes[s.As] = b
		}
		r.set(s, err, hex.EncodeToString(b))
	case "unwrap-by-decrypt":
		key, err := r.unwrapByDecrypt(r.sess(s), r.obj(s.W), r.bytes[s.From])
		r.set(s, err, hex.EncodeToString(key))
	case "unwrap":
		h, err := p.UnwrapKey(r.sess(s), mech(s.Mech), r.obj(s.W), s.Data, template(s.Attrs))
		r.keep(s, uint(h), err)
		r.set(s, err, "")
	case "derive":
		// ECDH with the EC point kept in From, no KDF.
		m := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDH1_DERIVE, pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, r.bytes[s.From]))}
		h, err := p.DeriveKey(r.sess(s), m, r.obj(s.O), template(s.Attrs))
		r.keep(s, uint(h), err)
		r.set(s, err, "")
	case "setpin":
		r.set(s, p.SetPIN(r.sess(s), s.PIN, s.PIN+"x"), "")
	case "initpin":
		r.set(s, p.InitPIN(r.sess(s), s.PIN), "")
	case "inittoken":
		r.set(s, p.InitToken(s.Slot, s.PIN, "taken"), "")
	case "probe-sessions":
		// Each literal handle as a session: the value lists the answers.
		var out []string
		for _, h := range r.probes(s) {
			_, err := p.GetSessionInfo(pkcs11.SessionHandle(h))
			out = append(out, rvName(err))
		}
		r.set(s, nil, strings.Join(out, ","))
	case "probe-objects":
		var out []string
		for _, h := range r.probes(s) {
			_, err := p.GetAttributeValue(r.sess(s), pkcs11.ObjectHandle(h), template(aRead(pkcs11.CKA_LABEL)))
			out = append(out, rvName(err))
		}
		r.set(s, nil, strings.Join(out, ","))
	case "walk":
		r.walk(s)
	case "pause":
		r.r.Paused = s.Name
		r.print()
		r.r.Paused = ""
		line, err := r.in.ReadString('\n')
		if err != nil {
			r.r.Error = "stdin closed at pause " + s.Name
			return
		}
		var more map[string][]uint
		if err := json.Unmarshal([]byte(line), &more); err != nil {
			r.r.Error = "bad resume line: " + err.Error()
		}
		for k, v := range more {
			r.r.Lists[k] = v
		}
	default:
		r.set(s, errors.New("unknown op "+s.Op), "")
	}
}

// unwrapByDecrypt undoes an RFC 3394 AES key wrap (CKM_AES_KEY_WRAP) of
// c with C_Decrypt (CKM_AES_ECB) under key k: what a client can do with a
// key that may both wrap and decrypt.
func (r *runner) unwrapByDecrypt(sh pkcs11.SessionHandle, k pkcs11.ObjectHandle, c []byte) ([]byte, error) {
	if len(c) < 24 || len(c)%8 != 0 {
		return nil, fmt.Errorf("wrapped key of %d bytes", len(c))
	}
	n := len(c)/8 - 1
	a := binary.BigEndian.Uint64(c)
	rs := make([][]byte, n)
	for i := range rs {
		rs[i] = slices.Clone(c[8*(i+1) : 8*(i+2)])
	}
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			block := binary.BigEndian.AppendUint64(nil, a^uint64(n*j+i))
			block = append(block, rs[i-1]...)
			if err := r.p.DecryptInit(sh, mech(pkcs11.CKM_AES_ECB), k); err != nil {
				return nil, err
			}
			b, err := r.p.Decrypt(sh, block)
			if err != nil {
				return nil, err
			}
			a, rs[i-1] = binary.BigEndian.Uint64(b), b[8:]
		}
	}
	if a != 0xa6a6a6a6a6a6a6a6 {
		return nil, errors.New("integrity check failed: not the key's wrap")
	}
	return slices.Concat(rs...), nil
}

// probes are the handles a probe or walk step tries besides 1..N.
func (r *runner) probes(s step) []uint {
	return append(slices.Clone(s.H), r.r.Lists[s.L]...)
}

// find lists every object matching tmpl, two at a time: a broker that
// filters must still return every visible object when a batch from the
// token holds hidden ones.
func (r *runner) find(sh pkcs11.SessionHandle, tmpl []*pkcs11.Attribute) ([]uint, error) {
	if err := r.p.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	defer r.p.FindObjectsFinal(sh)
	var all []uint
	for {
		hs, _, err := r.p.FindObjects(sh, 2)
		if err != nil {
			return all, err
		}
		if len(hs) == 0 {
			return all, nil
		}
		for _, h := range hs {
			all = append(all, uint(h))
		}
	}
}

// labels returns the sorted CKA_LABELs of hs (a CKR_ name for one that
// cannot be read).
func (r *runner) labels(sh pkcs11.SessionHandle, hs []uint) string {
	var out []string
	for _, h := range hs {
		a, err := r.p.GetAttributeValue(sh, pkcs11.ObjectHandle(h), template(aRead(pkcs11.CKA_LABEL)))
		if err != nil {
			out = append(out, rvName(err))
			continue
		}
		out = append(out, string(a[0].Value))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// walk tries the session and object handles 1..N, and the literal
// handles H, as sessions (C_GetSessionInfo) and as objects
// (C_GetAttributeValue CKA_LABEL in session S). Its value lists every
// handle that is not this client's own and answered anything but
// CKR_SESSION_HANDLE_INVALID or CKR_OBJECT_HANDLE_INVALID, as
// "session H RV" / "object H RV"; its answer is CKR_OK and the count.
func (r *runner) walk(s step) {
	var bad []string
	label := template(aRead(pkcs11.CKA_LABEL))
	sh := r.sess(s)
	try := func(h uint) {
		if !r.smine[h] {
			if _, err := r.p.GetSessionInfo(pkcs11.SessionHandle(h)); !errors.Is(err, pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)) {
				bad = append(bad, fmt.Sprintf("session %d %s", h, rvName(err)))
			}
		}
		if !r.mine[h] {
			if _, err := r.p.GetAttributeValue(sh, pkcs11.ObjectHandle(h), label); !errors.Is(err, pkcs11.Error(pkcs11.CKR_OBJECT_HANDLE_INVALID)) {
				bad = append(bad, fmt.Sprintf("object %d %s", h, rvName(err)))
			}
		}
	}
	start := time.Now()
	for h := uint(1); h <= uint(s.N); h++ {
		try(h)
	}
	for _, h := range r.probes(s) {
		try(h)
	}
	if len(bad) > 20 {
		bad = append(bad[:20], fmt.Sprintf("... %d in all", len(bad)))
	}
	r.set(s, nil, strings.Join(bad, "; "))
	r.r.Answers[s.Name+" (time)"] = answer{RV: "CKR_OK", V: time.Since(start).Round(time.Millisecond).String()}
}

func showAttr(a *pkcs11.Attribute) string {
	switch a.Type {
	case pkcs11.CKA_LABEL:
		return string(a.Value)
	case pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE, pkcs11.CKA_TOKEN, pkcs11.CKA_PRIVATE, pkcs11.CKA_LOCAL, pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE:
		return strconv.FormatBool(len(a.Value) == 1 && a.Value[0] != 0)
	}
	return hex.EncodeToString(a.Value)
}

func joinUints(v []uint) string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = strconv.FormatUint(uint64(x), 10)
	}
	return strings.Join(out, ",")
}
