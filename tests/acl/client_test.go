package acl

import (
	"crypto/aes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gop11/gop11/wire"
	"github.com/miekg/pkcs11"
)

// The Go client: this test binary, run again (often as another user) with
// GOP11_ACL_CLIENT naming a scenario. It loads the module in
// GOP11_ACL_MODULE (build/libgop11.so) with miekg/pkcs11, makes the
// scenario's calls and prints one JSON object: step → CKR name or value.

type result map[string]string

func rvName(err error) string {
	if err == nil {
		return "CKR_OK"
	}
	var e pkcs11.Error
	if errors.As(err, &e) {
		return wire.RV(e).String()
	}
	return err.Error()
}

type client struct {
	p *pkcs11.Ctx
	r result
}

func clientMain(scenario string) int {
	p := pkcs11.New(os.Getenv("GOP11_ACL_MODULE"))
	if p == nil {
		fmt.Fprintln(os.Stderr, "cannot load", os.Getenv("GOP11_ACL_MODULE"))
		return 2
	}
	c := &client{p: p, r: result{}}
	c.r["initialize"] = rvName(p.Initialize())
	if c.r["initialize"] == "CKR_OK" {
		switch scenario {
		case "ca":
			c.ca()
		case "dev":
			c.dev()
		default:
			fmt.Fprintln(os.Stderr, "unknown scenario", scenario)
			return 2
		}
		p.Finalize()
	}
	json.NewEncoder(os.Stdout).Encode(c.r)
	return 0
}

func attr(t uint, v any) *pkcs11.Attribute { return pkcs11.NewAttribute(t, v) }

func mech(t uint) []*pkcs11.Mechanism { return []*pkcs11.Mechanism{pkcs11.NewMechanism(t, nil)} }

// find returns the handles matching tmpl.
func (c *client) find(s pkcs11.SessionHandle, tmpl ...*pkcs11.Attribute) []pkcs11.ObjectHandle {
	if err := c.p.FindObjectsInit(s, tmpl); err != nil {
		return nil
	}
	defer c.p.FindObjectsFinal(s)
	var all []pkcs11.ObjectHandle
	for {
		// Two at a time: the broker's filter must still find every
		// visible object when a batch holds hidden ones.
		hs, _, err := c.p.FindObjects(s, 2)
		if err != nil || len(hs) == 0 {
			return all
		}
		all = append(all, hs...)
	}
}

// labels lists the labels of what find returns, sorted.
func (c *client) labels(s pkcs11.SessionHandle, hs []pkcs11.ObjectHandle) string {
	var out []string
	for _, h := range hs {
		a, err := c.p.GetAttributeValue(s, h, []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, nil)})
		if err != nil {
			out = append(out, rvName(err))
			continue
		}
		out = append(out, string(a[0].Value))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func (c *client) privateKey(s pkcs11.SessionHandle, label string) pkcs11.ObjectHandle {
	hs := c.find(s, attr(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), attr(pkcs11.CKA_LABEL, label))
	if len(hs) == 0 {
		return 0
	}
	return hs[0]
}

// ca is the CA's client: policy "ca" (slot 1, label:ca-*, CKM_ECDSA only,
// sign/find/read, broker login, read_only, max_sessions 3).
func (c *client) ca() {
	p, r := c.p, c.r
	slots, err := p.GetSlotList(true)
	r["slots"] = fmt.Sprint(slots, " ", rvName(err))
	_, err = p.GetTokenInfo(2)
	r["token_info_hidden_slot"] = rvName(err)
	ti, err := p.GetTokenInfo(1)
	r["write_protected"] = fmt.Sprint(err == nil && ti.Flags&pkcs11.CKF_WRITE_PROTECTED != 0)
	ms, err := p.GetMechanismList(1)
	var names []string
	for _, m := range ms {
		names = append(names, wire.MechanismName(uint64(m.Mechanism)))
	}
	r["mechanisms"] = strings.Join(names, ",") + " " + rvName(err)
	_, err = p.GetMechanismInfo(1, mech(pkcs11.CKM_SHA256_RSA_PKCS))
	r["mechanism_info_denied"] = rvName(err)
	_, err = p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	r["open_rw"] = rvName(err)
	_, err = p.OpenSession(2, pkcs11.CKF_SERIAL_SESSION)
	r["open_hidden_slot"] = rvName(err)
	s, err := p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
	r["open_ro"] = rvName(err)
	r["login_any_pin"] = rvName(p.Login(s, pkcs11.CKU_USER, "0000"))
	si, err := p.GetSessionInfo(s)
	r["session_state"] = fmt.Sprint(si.State, " ", rvName(err))
	all := c.find(s)
	r["objects"] = c.labels(s, all)
	priv := c.privateKey(s, "ca-key")
	digest := make([]byte, 32)
	if err = p.SignInit(s, mech(pkcs11.CKM_ECDSA), priv); err == nil {
		var sig []byte
		sig, err = p.Sign(s, digest)
		r["signature_len"] = strconv.Itoa(len(sig))
	}
	r["sign"] = rvName(err)
	r["sign_denied_mechanism"] = rvName(p.SignInit(s, mech(pkcs11.CKM_ECDSA_SHA256), priv))
	r["verify_denied_operation"] = rvName(p.VerifyInit(s, mech(pkcs11.CKM_ECDSA), priv))
	_, err = p.GenerateRandom(s, 8)
	r["random_denied"] = rvName(err)
	_, err = p.CreateObject(s, []*pkcs11.Attribute{attr(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), attr(pkcs11.CKA_LABEL, "ca-data")})
	r["create_denied"] = rvName(err)
	r["login_so_denied"] = rvName(p.Login(s, pkcs11.CKU_SO, "so"))
	r["set_pin_denied"] = rvName(p.SetPIN(s, "0000", "1111"))
	r["init_pin_denied"] = rvName(p.InitPIN(s, "1111"))
	r["init_token_denied"] = rvName(p.InitToken(1, "so", "x"))
	r["foreign_objects"] = strings.Join(c.tryObjects(s, os.Getenv("GOP11_ACL_FOREIGN_OBJECTS")), ",")
	r["foreign_sessions"] = strings.Join(c.trySessions(os.Getenv("GOP11_ACL_FOREIGN_SESSIONS")), ",")
	if n, _ := strconv.Atoi(os.Getenv("GOP11_ACL_WALK")); n > 0 {
		c.walk(s, all, n)
	}
	// max_sessions = 3: one is open, two more fit.
	opened := 1
	for ; opened < 10; opened++ {
		if _, err = p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION); err != nil {
			break
		}
	}
	r["max_sessions"] = fmt.Sprint(opened, " ", rvName(err))
}

// tryObjects reads CKA_LABEL of each listed handle; it returns the RVs.
func (c *client) tryObjects(s pkcs11.SessionHandle, list string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' }) {
		h, _ := strconv.ParseUint(f, 10, 32)
		_, err := c.p.GetAttributeValue(s, pkcs11.ObjectHandle(h), []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, nil)})
		out = append(out, rvName(err))
	}
	return out
}

func (c *client) trySessions(list string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' }) {
		h, _ := strconv.ParseUint(f, 10, 32)
		_, err := c.p.GetSessionInfo(pkcs11.SessionHandle(h))
		out = append(out, rvName(err))
	}
	return out
}

// walk tries n object handles and n session handles (1..n) and records
// every one that answers anything but the invalid-handle codes, apart
// from the client's own.
func (c *client) walk(s pkcs11.SessionHandle, own []pkcs11.ObjectHandle, n int) {
	var objs, sess []string
	for h := 1; h <= n; h++ {
		if !slices.Contains(own, pkcs11.ObjectHandle(h)) {
			if _, err := c.p.GetAttributeValue(s, pkcs11.ObjectHandle(h), []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, nil)}); rvName(err) != "CKR_OBJECT_HANDLE_INVALID" {
				objs = append(objs, fmt.Sprint(h, ":", rvName(err)))
			}
		}
		if pkcs11.SessionHandle(h) != s {
			if _, err := c.p.GetSessionInfo(pkcs11.SessionHandle(h)); rvName(err) != "CKR_SESSION_HANDLE_INVALID" {
				sess = append(sess, fmt.Sprint(h, ":", rvName(err)))
			}
		}
	}
	c.r["walk_objects_reached"] = strings.Join(objs, ",")
	c.r["walk_sessions_reached"] = strings.Join(sess, ",")
	c.r["walked"] = strconv.Itoa(n)
}

// dev is the device service's client: policy "dev" (label:dev-*, client
// login, operations without random, key-extraction guards on).
func (c *client) dev() {
	p, r := c.p, c.r
	s, err := p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	r["open_rw"] = rvName(err)
	r["login_wrong_pin"] = rvName(p.Login(s, pkcs11.CKU_USER, "0000"))
	r["login"] = rvName(p.Login(s, pkcs11.CKU_USER, os.Getenv("GOP11_ACL_PIN")))
	all := c.find(s)
	r["objects"] = c.labels(s, all)
	var hs []string
	for _, h := range all {
		hs = append(hs, strconv.FormatUint(uint64(h), 10))
	}
	r["object_handles"] = strings.Join(hs, ",")
	r["session_handle"] = strconv.FormatUint(uint64(s), 10)
	priv := c.privateKey(s, "dev-key")
	digest := make([]byte, 32)
	if err = p.SignInit(s, mech(pkcs11.CKM_ECDSA), priv); err == nil {
		_, err = p.Sign(s, digest)
	}
	r["sign"] = rvName(err)
	aes := func(label string, extra ...*pkcs11.Attribute) []*pkcs11.Attribute {
		return append([]*pkcs11.Attribute{attr(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), attr(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			attr(pkcs11.CKA_TOKEN, false), attr(pkcs11.CKA_LABEL, label)}, extra...)
	}
	gen := func(tmpl []*pkcs11.Attribute) (pkcs11.ObjectHandle, string) {
		h, err := p.GenerateKey(s, mech(pkcs11.CKM_AES_KEY_GEN), tmpl)
		return h, rvName(err)
	}
	_, r["generate_extractable"] = gen(aes("dev-x", attr(pkcs11.CKA_VALUE_LEN, 16), attr(pkcs11.CKA_EXTRACTABLE, true)))
	_, r["generate_not_sensitive"] = gen(aes("dev-x", attr(pkcs11.CKA_VALUE_LEN, 16), attr(pkcs11.CKA_SENSITIVE, false)))
	_, r["generate_hidden_label"] = gen(aes("other-x", attr(pkcs11.CKA_VALUE_LEN, 16)))
	mine, rv := gen(aes("dev-mine", attr(pkcs11.CKA_VALUE_LEN, 16), attr(pkcs11.CKA_WRAP, true)))
	r["generate"] = rv
	r["set_extractable"] = rvName(p.SetAttributeValue(s, mine, []*pkcs11.Attribute{attr(pkcs11.CKA_EXTRACTABLE, true)}))
	r["set_not_sensitive"] = rvName(p.SetAttributeValue(s, mine, []*pkcs11.Attribute{attr(pkcs11.CKA_SENSITIVE, false)}))
	r["relabel_hidden"] = rvName(p.SetAttributeValue(s, mine, []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, "other-mine")}))
	_, err = p.WrapKey(s, mech(pkcs11.CKM_AES_KEY_WRAP_PAD), mine, priv)
	r["wrap_foreign_key"] = rvName(err)
	_, err = p.GenerateRandom(s, 8)
	r["random_denied"] = rvName(err)
	// A key encryption key whose value the test knows, then a key
	// unwrapped with it.
	kek := []byte("0123456789abcdef")
	kh, err := p.CreateObject(s, aes("dev-kek", attr(pkcs11.CKA_VALUE, kek), attr(pkcs11.CKA_UNWRAP, true)))
	r["create_kek"] = rvName(err)
	wrapped := aesKeyWrap(kek, []byte("fedcba9876543210"))
	_, err = p.UnwrapKey(s, mech(pkcs11.CKM_AES_KEY_WRAP), kh, wrapped, aes("dev-unwrapped", attr(pkcs11.CKA_SENSITIVE, false)))
	r["unwrap_not_sensitive"] = rvName(err)
	uh, err := p.UnwrapKey(s, mech(pkcs11.CKM_AES_KEY_WRAP), kh, wrapped, aes("dev-unwrapped", attr(pkcs11.CKA_ENCRYPT, true)))
	r["unwrap"] = rvName(err)
	if a, err := p.GetAttributeValue(s, uh, []*pkcs11.Attribute{attr(pkcs11.CKA_SENSITIVE, nil)}); err == nil && len(a[0].Value) == 1 {
		r["unwrapped_sensitive"] = fmt.Sprint(a[0].Value[0] == 1)
	}
	// A token object made now, which the CA's client must never see.
	_, r["generate_token_object"] = gen(append(aes("dev-later", attr(pkcs11.CKA_VALUE_LEN, 16)), attr(pkcs11.CKA_TOKEN, true)))
	r["objects_after"] = c.labels(s, c.find(s))
	// The connection stays open while the CA's client runs, when asked:
	// its handles must stay out of reach all the same.
	if os.Getenv("GOP11_ACL_HOLD") != "" {
		fmt.Println(mustJSON(r))
		os.Stdout.Sync()
		var b [1]byte
		os.Stdin.Read(b[:])
	}
}

func mustJSON(r result) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// aesKeyWrap is RFC 3394 key wrap (CKM_AES_KEY_WRAP), so the test can
// hand the token a wrapped key it made itself.
func aesKeyWrap(kek, key []byte) []byte {
	b, err := aes.NewCipher(kek)
	if err != nil {
		panic(err)
	}
	n := len(key) / 8
	a := []byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}
	r := make([][]byte, n)
	for i := range r {
		r[i] = append([]byte(nil), key[8*i:8*i+8]...)
	}
	buf := make([]byte, 16)
	for j := 0; j < 6; j++ {
		for i := 0; i < n; i++ {
			copy(buf, a)
			copy(buf[8:], r[i])
			b.Encrypt(buf, buf)
			t := binary.BigEndian.Uint64(buf[:8]) ^ uint64(n*j+i+1)
			a = binary.BigEndian.AppendUint64(a[:0], t)
			copy(r[i], buf[8:])
		}
	}
	out := append([]byte(nil), a...)
	for _, x := range r {
		out = append(out, x...)
	}
	return out
}
