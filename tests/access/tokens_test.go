package access

import (
	"strconv"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/miekg/pkcs11"
)

// p256 is the DER OID of the NIST P-256 curve, CKA_EC_PARAMS.
var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// ecPair is a step that makes a token EC P-256 key pair with label and
// id on both halves, the private one sensitive, in session "s".
func ecPair(label string, id []byte) step {
	both := []attr{aBool(pkcs11.CKA_TOKEN, true), aStr(pkcs11.CKA_LABEL, label), aBytes(pkcs11.CKA_ID, id)}
	return step{Name: "make " + label, Op: "genpair", S: "s", Mech: pkcs11.CKM_EC_KEY_PAIR_GEN, Want: "CKR_OK",
		Attrs: append([]attr{aBytes(pkcs11.CKA_EC_PARAMS, p256), aBool(pkcs11.CKA_VERIFY, true)}, both...),
		Priv:  append([]attr{aBool(pkcs11.CKA_PRIVATE, true), aBool(pkcs11.CKA_SENSITIVE, true), aBool(pkcs11.CKA_SIGN, true)}, both...)}
}

// dataObject is a step that makes a public token data object.
func dataObject(label string) step {
	return step{Name: "make " + label, Op: "create", S: "s", Want: "CKR_OK", Attrs: []attr{
		aNum(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), aBool(pkcs11.CKA_TOKEN, true), aBool(pkcs11.CKA_PRIVATE, false),
		aStr(pkcs11.CKA_LABEL, label), aBytes(pkcs11.CKA_VALUE, []byte("not for everyone"))}}
}

// loggedIn starts a script with an R/W session "s" on slot, logged in as
// the user with pin, and goes on with more.
func loggedIn(slot uint, pin string, more ...step) []step {
	return append([]step{
		{Name: "open", Op: "open", Slot: slot, RW: true, As: "s", Want: "CKR_OK"},
		{Name: "login", Op: "login", S: "s", User: pkcs11.CKU_USER, PIN: pin, Want: "CKR_OK"},
	}, more...)
}

// inBoth runs f as parallel subtests, one for each isolation (process,
// shared, inprocess, and "handoff": shared with handoff = true).
func inBoth(t *testing.T, f func(t *testing.T, isolation string)) {
	for _, iso := range []string{"process", "shared", "inprocess", "handoff"} {
		t.Run(iso, func(t *testing.T) {
			t.Parallel()
			f(t, iso)
		})
	}
}

// slotOf is tok's SoftHSM2 slot ID.
func slotOf(t *testing.T, tok *harness.Token) uint {
	t.Helper()
	n, err := strconv.ParseUint(tok.Slot, 10, 64)
	if err != nil {
		t.Fatalf("slot %q: %v", tok.Slot, err)
	}
	return uint(n)
}

// fill runs steps as root against SoftHSM2 itself (no broker), in an R/W
// session "s" on tok logged in as its user, fails the test unless every
// named step with a Want got it, and returns the client's report.
func fill(t *testing.T, tok *harness.Token, steps ...step) report {
	t.Helper()
	harness.Require(t, harness.SoftHSM)
	s := startScript(t, root, append(tok.Env(), moduleEnv+"="+harness.SoftHSM), loggedIn(slotOf(t, tok), tok.PIN, steps...))
	r := s.finish()
	s.check(r, nil)
	return r
}

// newTokens makes a SoftHSM2 directory with two tokens: "shared", holding
// the EC key pairs ca-key (ID 01) and dev-key (ID 02), the AES key
// by-id (ID 02 05) and the public data object secret-data, and "other",
// empty. It returns "shared".
func newTokens(t *testing.T) *harness.Token {
	t.Helper()
	tok := harness.NewToken(t, "shared", userPIN, soPIN)
	tok.AddToken(t, "other", userPIN, soPIN)
	fill(t, tok, ecPair("ca-key", []byte{1}), ecPair("dev-key", []byte{2}), dataObject("secret-data"),
		step{Name: "make by-id", Op: "create", S: "s", Want: "CKR_OK", Attrs: aesKey("by-id", aBool(pkcs11.CKA_TOKEN, true),
			aBytes(pkcs11.CKA_ID, []byte{2, 5}), aBytes(pkcs11.CKA_VALUE, innerValue))})
	return tok
}
