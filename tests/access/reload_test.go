package access

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/miekg/pkcs11"
)

// reloadConfig: root's policy "app" on tokens "shared" (slot 1) and
// "other" (slot 2), under the identity and with the slots, mechanisms and
// objects given.
func reloadConfig(sock string, tok *harness.Token, iso, identity, slots, mechs, objects string) string {
	return fmt.Sprintf(`listen = ["unix://%s"]
%s%s%s
[[client]]
name = "app"
%s
slots = [%s]
mechanisms = [%s]
objects = [%s]
`, sock, softhsmModule(tok, iso), tokenTable("shared", 1, ""), tokenTable("other", 2, ""), identity, slots, mechs, objects)
}

// TestReloadPolicy: a policy changed in the file applies, after SIGHUP, to
// the next call of a connection that is already open: a slot taken away
// (its sessions too), a mechanism, an object, and the whole [[client]].
func TestReloadPolicy(t *testing.T) {
	requireRoot(t)
	inBoth(t, func(t *testing.T, iso string) {
		tok := harness.NewToken(t, "shared", userPIN, soPIN)
		other := tok.AddToken(t, "other", userPIN, soPIN)
		fill(t, tok, ecPair("key-1", []byte{1}))
		fill(t, other, ecPair("key-2", []byte{2}), ecPair("key-3", []byte{3}))
		cfg := func(identity, slots, mechs, objects string) func(string) string {
			return func(sock string) string { return reloadConfig(sock, tok, iso, identity, slots, mechs, objects) }
		}
		b := startBroker(t, cfg("uids = [0]", "1, 2", `"CKM_ECDSA", "CKM_SHA256"`, `"label:key-*"`))
		env := clientEnv(b.endpoint(), filepath.Join(t.TempDir(), "module.log"))
		priv := []attr{class(pkcs11.CKO_PRIVATE_KEY)}
		s := startScript(t, root, env, []step{
			{Name: "open 1", Op: "open", Slot: 1, As: "s1", Want: "CKR_OK"},
			{Name: "login 1", Op: "login", S: "s1", User: pkcs11.CKU_USER, PIN: userPIN, Want: "CKR_OK"},
			{Name: "open 2", Op: "open", Slot: 2, As: "s2", Want: "CKR_OK"},
			{Name: "login 2", Op: "login", S: "s2", User: pkcs11.CKU_USER, PIN: userPIN, Want: "CKR_OK"},
			{Name: "find 1", Op: "find", S: "s1", As: "k1", Attrs: priv, Want: "CKR_OK|key-1"},
			{Name: "find 2", Op: "find", S: "s2", As: "k2", Attrs: []attr{class(pkcs11.CKO_PRIVATE_KEY), label("key-2")}, Want: "CKR_OK|key-2"},
			{Name: "find 3", Op: "find", S: "s2", As: "k3", Attrs: []attr{class(pkcs11.CKO_PRIVATE_KEY), label("key-3")}, Want: "CKR_OK|key-3"},
			{Name: "sign 3", Op: "sign", S: "s2", O: "k3", Mech: pkcs11.CKM_ECDSA, Want: "CKR_OK|64"},
			{Name: "sign 1", Op: "sign", S: "s1", O: "k1", Mech: pkcs11.CKM_ECDSA, Want: "CKR_OK|64"},
			{Name: "SHA256", Op: "mechinfo", Slot: 2, Mech: pkcs11.CKM_SHA256, Want: "CKR_OK"},
			{Name: "first", Op: "pause"},
			{Name: "slots after", Op: "slots", Want: "CKR_OK|2"},
			{Name: "session on the slot taken away", Op: "sessinfo", S: "s1", Want: "CKR_SESSION_HANDLE_INVALID", Rule: "slots"},
			// libgop11.so forgets a session the broker called invalid:
			// this one is answered without a call.
			{Name: "sign on the slot taken away", Op: "sign", S: "s1", O: "k1", Mech: pkcs11.CKM_ECDSA, Want: "CKR_SESSION_HANDLE_INVALID"},
			{Name: "sign on the slot kept", Op: "sign", S: "s2", O: "k2", Mech: pkcs11.CKM_ECDSA, Want: "CKR_OK|64"},
			{Name: "SHA256 taken away", Op: "mechinfo", Slot: 2, Mech: pkcs11.CKM_SHA256, Want: "CKR_MECHANISM_INVALID", Rule: "mechanisms"},
			{Name: "mechanisms after", Op: "mechs", Slot: 2, Want: "CKR_OK|CKM_ECDSA"},
			{Name: "sign with the key taken away", Op: "sign", S: "s2", O: "k3", Mech: pkcs11.CKM_ECDSA, Want: "CKR_OBJECT_HANDLE_INVALID", Rule: "objects", Label: "key-3"},
			{Name: "keys after", Op: "find", S: "s2", Attrs: priv, Want: "CKR_OK|key-2"},
			{Name: "second", Op: "pause"},
			{Name: "slots without a policy", Op: "slots", Want: "CKR_OK|"},
			{Name: "session without a policy", Op: "sessinfo", S: "s2", Want: "CKR_SESSION_HANDLE_INVALID", Rule: "slots"},
			{Name: "third", Op: "pause"},
			{Name: "slots restored", Op: "slots", Want: "CKR_OK|1,2"},
			{Name: "open restored", Op: "open", Slot: 1, Want: "CKR_OK"},
		})
		if r := s.next(); r.Paused != "first" {
			t.Fatalf("report at %q, want the first pause", r.Paused)
		}
		b.reload(cfg("uids = [0]", "2", `"CKM_ECDSA"`, `"label:key-2"`)(b.sock))
		s.resume(nil)
		if r := s.next(); r.Paused != "second" {
			t.Fatalf("report at %q, want the second pause", r.Paused)
		}
		b.reload(cfg("uids = [4242]", "2", `"CKM_ECDSA"`, `"label:key-2"`)(b.sock))
		s.resume(nil)
		if r := s.next(); r.Paused != "third" {
			t.Fatalf("report at %q, want the third pause", r.Paused)
		}
		b.waitCount("policy reloaded: the connection now has another [[client]]", func(e entry) bool {
			return e.str("identity") == fmt.Sprintf("uid=0 gid=0 pid=%d", s.cmd.Process.Pid) && e.str("client") == "(no matching [[client]])"
		}, 1, "the connection's loss of its [[client]]")
		// A new connection matches nothing now.
		if rv := runScript(t, root, env, nil).Answers["initialize"].RV; rv != "CKR_DEVICE_ERROR" {
			t.Errorf("a new connection after the policy went: C_Initialize %s, want CKR_DEVICE_ERROR", rv)
		}
		// The policy back: the connection has its slots again.
		b.reload(cfg("uids = [0]", "1, 2", `"CKM_ECDSA", "CKM_SHA256"`, `"label:key-*"`)(b.sock))
		s.resume(nil)
		s.check(s.finish(), b)
	})
}

// TestLeaveAfterReload: a client whose slot a reload took away goes
// away. Its sessions on that slot must still be closed in the module, and
// its login with them: with isolation "inprocess" the module is shared,
// and a session left open keeps the token logged in for the next client,
// which then uses private keys without a PIN.
func TestLeaveAfterReload(t *testing.T) {
	requireRoot(t)
	harness.Require(t, "setpriv")
	inBoth(t, func(t *testing.T, iso string) {
		tok := harness.NewToken(t, "shared", userPIN, soPIN)
		tok.AddToken(t, "other", userPIN, soPIN)
		fill(t, tok, ecPair("key-1", []byte{1}))
		cfg := func(xSlots string) func(string) string {
			return func(sock string) string {
				return fmt.Sprintf(`listen = ["unix://%s"]
socket_mode = "0666"
%s%s%s
[[client]]
name = "x"
uids = [0]
gids = [0]
slots = [%s]

[[client]]
name = "y"
uids = [0]
gids = [%d]
slots = [1]
`, sock, softhsmModule(tok, iso), tokenTable("shared", 1, ""), tokenTable("other", 2, ""), xSlots, nogroup.gid)
			}
		}
		b := startBroker(t, cfg("1"))
		dir := openDir(t)
		x := startScript(t, root, clientEnv(b.endpoint(), filepath.Join(dir, "x.log")), []step{
			{Name: "open", Op: "open", Slot: 1, As: "s", Want: "CKR_OK"},
			{Name: "login", Op: "login", S: "s", User: pkcs11.CKU_USER, PIN: userPIN, Want: "CKR_OK"},
			{Name: "logged in", Op: "sessinfo", S: "s", Want: "CKR_OK|state=1"}, // CKS_RO_USER_FUNCTIONS
			{Name: "held", Op: "pause"},
		})
		x.next()
		b.reload(cfg("2")(b.sock))
		x.resume(nil)
		xEnd := x.finish()
		x.check(xEnd, nil)
		b.waitCount("client gone: its workers finalize their modules", func(e entry) bool {
			return e.str("pid") == fmt.Sprint(xEnd.PID)
		}, 1, "x's connection closed")
		y := startScript(t, nogroup, clientEnv(b.endpoint(), filepath.Join(dir, "y.log")), []step{
			{Name: "open", Op: "open", Slot: 1, As: "s", Want: "CKR_OK"},
			{Name: "not logged in", Op: "sessinfo", S: "s", Want: "CKR_OK|state=0"}, // CKS_RO_PUBLIC_SESSION
			{Name: "no private key without a login", Op: "find", S: "s", Attrs: []attr{class(pkcs11.CKO_PRIVATE_KEY)}, Want: "CKR_OK|"},
		})
		y.check(y.finish(), b)
	})
}
