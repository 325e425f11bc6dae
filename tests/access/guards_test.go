package access

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/miekg/pkcs11"
)

// Key values the test chooses, so that it knows what a wrap would leak.
var (
	victimValue = []byte("victim-key-16byt")
	kekValue    = []byte("kek-known-16byte")
	innerValue  = []byte("inner-key-16byte")
)

// aesKey is the template of an AES key with label and extra attributes.
func aesKey(l string, extra ...attr) []attr {
	return append([]attr{class(pkcs11.CKO_SECRET_KEY), aNum(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES), label(l)}, extra...)
}

// guardsConfig: root's policy "app" sees objects labelled app-* and may
// do everything but random: a client with an objects filter and an
// operations list, so the key-extraction guards are on.
func guardsConfig(sock string, tok *harness.Token, iso string) string {
	return fmt.Sprintf(`listen = ["unix://%s"]
%s%s
[[client]]
name = "app"
uids = [0]
objects = ["label:app-*"]
operations = ["sign", "verify", "encrypt", "decrypt", "digest", "wrap", "unwrap", "derive", "generate",
              "create", "copy", "destroy", "set-attribute", "read", "find"]
`, sock, softhsmModule(tok, iso), tokenTable("shared", 1, ""))
}

// TestExtractionGuards: a guarded client cannot make a key extractable or
// not sensitive (by template or by C_SetAttributeValue), cannot wrap a key
// it did not make with a key it made, and a key it unwraps or derives is
// sensitive.
func TestExtractionGuards(t *testing.T) {
	requireRoot(t)
	inBoth(t, func(t *testing.T, iso string) {
		tok := harness.NewToken(t, "shared", userPIN, soPIN)
		// Made by someone else: a key to steal (sensitive, but
		// extractable, so a wrap would give it away) and a wrapping
		// key the client did not make; and, in session objects that
		// go away, a wrap under the KEK value the client will use.
		made := fill(t, tok,
			step{Name: "victim", Op: "create", S: "s", Want: "CKR_OK", Attrs: aesKey("app-victim", aBool(pkcs11.CKA_TOKEN, true),
				aBytes(pkcs11.CKA_VALUE, victimValue), aBool(pkcs11.CKA_SENSITIVE, true), aBool(pkcs11.CKA_EXTRACTABLE, true))},
			// The token's wrapping key is generated there (no one knows its
			// value) and does not decrypt (C_Decrypt would undo its wraps).
			step{Name: "wrapper", Op: "genkey", S: "s", Mech: pkcs11.CKM_AES_KEY_GEN, Want: "CKR_OK", Attrs: aesKey("app-wrapper", aBool(pkcs11.CKA_TOKEN, true),
				aNum(pkcs11.CKA_VALUE_LEN, 16), aBool(pkcs11.CKA_SENSITIVE, true), aBool(pkcs11.CKA_EXTRACTABLE, false), aBool(pkcs11.CKA_WRAP, true),
				aBool(pkcs11.CKA_DECRYPT, false))},
			step{Name: "kek0", Op: "create", S: "s", As: "kek0", Want: "CKR_OK", Attrs: aesKey("kek0", aBytes(pkcs11.CKA_VALUE, kekValue), aBool(pkcs11.CKA_WRAP, true))},
			step{Name: "inner", Op: "create", S: "s", As: "inner", Want: "CKR_OK", Attrs: aesKey("inner", aBytes(pkcs11.CKA_VALUE, innerValue), aBool(pkcs11.CKA_EXTRACTABLE, true))},
			step{Name: "wrap inner", Op: "wrap", S: "s", W: "kek0", O: "inner", Mech: pkcs11.CKM_AES_KEY_WRAP, Want: "CKR_OK"},
		)
		wrapped, err := hex.DecodeString(made.Answers["wrap inner"].V)
		if err != nil || len(wrapped) != 24 {
			t.Fatalf("wrapped inner key %q: %v", made.Answers["wrap inner"].V, err)
		}
		b := startBroker(t, func(sock string) string { return guardsConfig(sock, tok, iso) })
		env := clientEnv(b.endpoint(), filepath.Join(t.TempDir(), "module.log"))
		guard := "key-extraction guard: "
		steps := loggedIn(1, userPIN, []step{
			{Name: "find victim", Op: "find", S: "s", As: "victim", Attrs: []attr{label("app-victim")}, Want: "CKR_OK|app-victim"},
			{Name: "find wrapper", Op: "find", S: "s", As: "wrapper", Attrs: []attr{label("app-wrapper")}, Want: "CKR_OK|app-wrapper"},
			{Name: "generate extractable", Op: "genkey", S: "s", Mech: pkcs11.CKM_AES_KEY_GEN,
				Attrs: aesKey("app-x", aNum(pkcs11.CKA_VALUE_LEN, 16), aBool(pkcs11.CKA_EXTRACTABLE, true)),
				Want:  "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_EXTRACTABLE"},
			{Name: "generate not sensitive", Op: "genkey", S: "s", Mech: pkcs11.CKM_AES_KEY_GEN,
				Attrs: aesKey("app-x", aNum(pkcs11.CKA_VALUE_LEN, 16), aBool(pkcs11.CKA_SENSITIVE, false)),
				Want:  "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_SENSITIVE"},
			{Name: "generate an extractable private key", Op: "genpair", S: "s", Mech: pkcs11.CKM_EC_KEY_PAIR_GEN,
				Attrs: []attr{aBytes(pkcs11.CKA_EC_PARAMS, p256), label("app-pair")},
				Priv:  []attr{label("app-pair"), aBool(pkcs11.CKA_EXTRACTABLE, true)},
				Want:  "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_EXTRACTABLE"},
			{Name: "import a key not sensitive", Op: "create", S: "s",
				Attrs: aesKey("app-x", aBytes(pkcs11.CKA_VALUE, innerValue), aBool(pkcs11.CKA_SENSITIVE, false)),
				Want:  "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_SENSITIVE"},
			{Name: "generate", Op: "genkey", S: "s", As: "mine", Mech: pkcs11.CKM_AES_KEY_GEN, Want: "CKR_OK",
				Attrs: aesKey("app-mine", aNum(pkcs11.CKA_VALUE_LEN, 16), aBool(pkcs11.CKA_SENSITIVE, true), aBool(pkcs11.CKA_EXTRACTABLE, false))},
			{Name: "set extractable on its key", Op: "setattr", S: "s", O: "mine", Attrs: []attr{aBool(pkcs11.CKA_EXTRACTABLE, true)},
				Want: "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_EXTRACTABLE"},
			{Name: "clear sensitive on the victim", Op: "setattr", S: "s", O: "victim", Attrs: []attr{aBool(pkcs11.CKA_SENSITIVE, false)},
				Want: "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_SENSITIVE"},
			{Name: "copy the victim not sensitive", Op: "copy", S: "s", O: "victim", Attrs: []attr{aBool(pkcs11.CKA_SENSITIVE, false)},
				Want: "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_SENSITIVE"},
			{Name: "victim still sensitive", Op: "getattr", S: "s", O: "victim", Attrs: aRead(pkcs11.CKA_SENSITIVE), Want: "CKR_OK|true"},
			{Name: "import a KEK", Op: "create", S: "s", As: "kek", Want: "CKR_OK",
				Attrs: aesKey("app-kek", aBool(pkcs11.CKA_TOKEN, true), aBytes(pkcs11.CKA_VALUE, kekValue), aBool(pkcs11.CKA_WRAP, true), aBool(pkcs11.CKA_UNWRAP, true))},
			{Name: "wrap the victim with its KEK", Op: "wrap", S: "s", W: "kek", O: "victim", Mech: pkcs11.CKM_AES_KEY_WRAP,
				Want: "CKR_KEY_FUNCTION_NOT_PERMITTED", Rule: guard + "a key the client made"},
			// A key it did not make may wrap: the client cannot read what comes out.
			{Name: "wrap the victim with the token's wrapper", Op: "wrap", S: "s", W: "wrapper", O: "victim", Mech: pkcs11.CKM_AES_KEY_WRAP, Want: "CKR_OK"},
			{Name: "unwrap not sensitive", Op: "unwrap", S: "s", W: "kek", Mech: pkcs11.CKM_AES_KEY_WRAP, Data: wrapped,
				Attrs: aesKey("app-inner", aBool(pkcs11.CKA_SENSITIVE, false)), Want: "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_SENSITIVE"},
			{Name: "unwrap", Op: "unwrap", S: "s", W: "kek", As: "unwrapped", Mech: pkcs11.CKM_AES_KEY_WRAP, Data: wrapped,
				Attrs: aesKey("app-inner", aBool(pkcs11.CKA_ENCRYPT, true)), Want: "CKR_OK"},
			{Name: "unwrapped key is sensitive", Op: "getattr", S: "s", O: "unwrapped", Attrs: aRead(pkcs11.CKA_SENSITIVE), Want: "CKR_OK|true"},
			{Name: "unwrapped key's value", Op: "getattr", S: "s", O: "unwrapped", Attrs: aRead(pkcs11.CKA_VALUE), Want: "CKR_ATTRIBUTE_SENSITIVE"},
			// ECDH of its own key pair with itself: a secret the client
			// could compute only from the private key.
			{Name: "generate an EC pair", Op: "genpair", S: "s", As: "ec", Mech: pkcs11.CKM_EC_KEY_PAIR_GEN, Want: "CKR_OK",
				Attrs: []attr{aBytes(pkcs11.CKA_EC_PARAMS, p256), label("app-ec")}, Priv: []attr{label("app-ec"), aBool(pkcs11.CKA_DERIVE, true)}},
			{Name: "find its public key", Op: "find", S: "s", As: "ecpub", Attrs: []attr{label("app-ec"), class(pkcs11.CKO_PUBLIC_KEY)}, Want: "CKR_OK|app-ec"},
			{Name: "its EC point", Op: "getattr", S: "s", O: "ecpub", As: "point", Attrs: aRead(pkcs11.CKA_EC_POINT), Want: "CKR_OK"},
			{Name: "derive not sensitive", Op: "derive", S: "s", O: "ec", From: "point", Want: "CKR_ATTRIBUTE_READ_ONLY", Rule: guard + "CKA_SENSITIVE",
				Attrs: aesKey("app-derived", aNum(pkcs11.CKA_VALUE_LEN, 16), aBool(pkcs11.CKA_SENSITIVE, false))},
			{Name: "derive", Op: "derive", S: "s", O: "ec", From: "point", As: "derived", Want: "CKR_OK",
				Attrs: aesKey("app-derived", aNum(pkcs11.CKA_VALUE_LEN, 16), aBool(pkcs11.CKA_EXTRACTABLE, false))},
			{Name: "derived key is sensitive", Op: "getattr", S: "s", O: "derived", Attrs: aRead(pkcs11.CKA_SENSITIVE), Want: "CKR_OK|true"},
		}...)
		s := startScript(t, root, env, steps)
		s.check(s.finish(), b)
		t.Run("KEK made in an earlier connection", func(t *testing.T) { earlierKEK(t, tok, env, b) })
		t.Run("wrapper made to decrypt", func(t *testing.T) { wrapThenDecrypt(t, env) })
	})
}

// earlierKEK: the KEK the client imported is still its own key in its
// next connection. The broker must not let it wrap the victim there
// either, or the client reads the victim's value with the KEK value it
// chose.
func earlierKEK(t *testing.T, tok *harness.Token, env []string, b *broker) {
	guard := "key-extraction guard: "
	const wrap = "wrap the victim with the KEK it made in an earlier connection"
	again := loggedIn(1, userPIN, []step{
		{Name: "find its KEK", Op: "find", S: "s", As: "kek", Attrs: []attr{label("app-kek")}, Want: "CKR_OK|app-kek"},
		{Name: "find victim", Op: "find", S: "s", As: "victim", Attrs: []attr{label("app-victim")}, Want: "CKR_OK|app-victim"},
		{Name: wrap, Op: "wrap", S: "s", W: "kek", O: "victim",
			Mech: pkcs11.CKM_AES_KEY_WRAP, Want: "CKR_KEY_FUNCTION_NOT_PERMITTED", Rule: guard},
	}...)
	s := startScript(t, root, env, again)
	r := s.finish()
	s.check(r, b)
	if leak := r.Answers[wrap]; leak.RV == "CKR_OK" {
		showLeak(t, tok, leak.V)
	}
}

// wrapThenDecrypt: a key that may wrap must not also decrypt for a
// guarded client, or the client wraps the victim with it and undoes the
// wrap with C_Decrypt. Here the client tries to give the token's wrapping
// key (which it did not make, and whose value no one knows) CKA_DECRYPT.
// The broker may refuse any of the steps; the victim's value must not
// come out.
func wrapThenDecrypt(t *testing.T, env []string) {
	s := startScript(t, root, env, loggedIn(1, userPIN, []step{
		{Name: "find wrapper", Op: "find", S: "s", As: "wrapper", Attrs: []attr{label("app-wrapper")}, Want: "CKR_OK|app-wrapper"},
		{Name: "find victim", Op: "find", S: "s", As: "victim", Attrs: []attr{label("app-victim")}, Want: "CKR_OK|app-victim"},
		{Name: "let the wrapper decrypt", Op: "setattr", S: "s", O: "wrapper", Attrs: []attr{aBool(pkcs11.CKA_DECRYPT, true)}},
		{Name: "wrap the victim", Op: "wrap", S: "s", W: "wrapper", O: "victim", As: "blob", Mech: pkcs11.CKM_AES_KEY_WRAP},
		{Name: "decrypt the wrap", Op: "unwrap-by-decrypt", S: "s", W: "wrapper", From: "blob"},
	}...))
	r := s.finish()
	s.check(r, nil)
	if got := r.Answers["decrypt the wrap"]; got.V == hex.EncodeToString(victimValue) {
		t.Errorf("the client has extracted the victim key: C_SetAttributeValue(CKA_DECRYPT) on the wrapping key %s, C_WrapKey %s, "+
			"then C_Decrypt(CKM_AES_ECB) undid the wrap and gave %q", r.Answers["let the wrapper decrypt"].RV, r.Answers["wrap the victim"].RV, victimValue)
	}
}

// showLeak unwraps what the client got from C_WrapKey with the KEK value
// the client chose, on SoftHSM2 directly, and says whether that is the
// victim key.
func showLeak(t *testing.T, tok *harness.Token, wrappedHex string) {
	t.Helper()
	wrapped, _ := hex.DecodeString(wrappedHex)
	r := fill(t, tok,
		step{Name: "kek", Op: "create", S: "s", As: "kek", Want: "CKR_OK", Attrs: aesKey("kek", aBytes(pkcs11.CKA_VALUE, kekValue), aBool(pkcs11.CKA_UNWRAP, true))},
		step{Name: "unwrap", Op: "unwrap", S: "s", W: "kek", As: "k", Mech: pkcs11.CKM_AES_KEY_WRAP, Data: wrapped, Want: "CKR_OK",
			Attrs: aesKey("k", aBool(pkcs11.CKA_SENSITIVE, false), aBool(pkcs11.CKA_EXTRACTABLE, true))},
		step{Name: "value", Op: "getattr", S: "s", O: "k", Attrs: aRead(pkcs11.CKA_VALUE)})
	if r.Answers["value"].V == hex.EncodeToString(victimValue) {
		t.Errorf("the client has extracted the victim key: its wrap under a KEK value the client chose unwraps to %q", victimValue)
	}
}
