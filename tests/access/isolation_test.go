package access

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/miekg/pkcs11"
)

// twoRootsConfig: root with group 0 is client "x" (max_sessions 2), root
// with group 65534 is client "y", both on the token "shared" at slot 1.
func twoRootsConfig(sock string, tok *harness.Token, iso string, yGID int) string {
	return fmt.Sprintf(`listen = ["unix://%s"]
socket_mode = "0666"
%s%s
[[client]]
name = "x"
uids = [0]
gids = [0]
max_sessions = 2

[[client]]
name = "y"
uids = [0]
gids = [%d]
`, sock, softhsmModule(tok, iso), tokenTable("shared", 1, ""), yGID)
}

// nogroup is root with group 65534: another identity for a policy's gids
// without making a user.
var nogroup = who{name: "root-gid-65534", uid: 0, gid: 65534}

// TestSessionLimitConcurrent: max_sessions holds when a client opens its
// sessions from many threads at once.
func TestSessionLimitConcurrent(t *testing.T) {
	requireRoot(t)
	inBoth(t, func(t *testing.T, iso string) {
		tok := harness.NewToken(t, "shared", userPIN, soPIN)
		b := startBroker(t, func(sock string) string { return twoRootsConfig(sock, tok, iso, nogroup.gid) })
		s := startScript(t, root, clientEnv(b.endpoint(), filepath.Join(t.TempDir(), "x.log")), []step{
			{Name: "16 at once", Op: "open-parallel", Slot: 1, N: 16, Want: "CKR_SESSION_COUNT|2"},
		})
		s.check(s.finish(), nil)
	})
}

// TestCloseAllSessionsPerClient: C_CloseAllSessions closes the caller's
// sessions on the slot, never another client's (and so never another
// client's login).
func TestCloseAllSessionsPerClient(t *testing.T) {
	requireRoot(t)
	harness.Require(t, "setpriv")
	inBoth(t, func(t *testing.T, iso string) {
		tok := harness.NewToken(t, "shared", userPIN, soPIN)
		b := startBroker(t, func(sock string) string { return twoRootsConfig(sock, tok, iso, nogroup.gid) })
		whileHeld(t, b, loggedIn(1, userPIN, []step{
			{Name: "held", Op: "pause"},
			{Name: "session after y's C_CloseAllSessions", Op: "sessinfo", S: "s", Want: "CKR_OK|state=3"}, // CKS_RW_USER_FUNCTIONS
		}...), []step{
			{Name: "open", Op: "open", Slot: 1, Want: "CKR_OK"},
			{Name: "close all", Op: "closeall", Slot: 1, Want: "CKR_OK"},
		})
	})
}

// TestObjectRelabelledAway: an object a client saw and holds a handle to
// leaves its policy when another client changes its label: from then on
// it is hidden like any other, in C_FindObjects and by its handle.
func TestObjectRelabelledAway(t *testing.T) {
	requireRoot(t)
	harness.Require(t, "setpriv")
	inBoth(t, func(t *testing.T, iso string) {
		tok := harness.NewToken(t, "shared", userPIN, soPIN)
		// A public key object: neither client needs a login (which,
		// in one in-process module, the two would share).
		fill(t, tok, step{Name: "make ca-shared", Op: "create", S: "s", Want: "CKR_OK", Attrs: aesKey("ca-shared", aBool(pkcs11.CKA_TOKEN, true),
			aBool(pkcs11.CKA_PRIVATE, false), aBytes(pkcs11.CKA_ID, []byte{2, 9}), aBytes(pkcs11.CKA_VALUE, innerValue))})
		b := startBroker(t, func(sock string) string {
			return fmt.Sprintf(`listen = ["unix://%s"]
socket_mode = "0666"
%s%s
[[client]]
name = "by-label"
uids = [0]
gids = [0]
objects = ["label:ca-*"]

[[client]]
name = "by-id"
uids = [0]
gids = [%d]
objects = ["id:02*"]
`, sock, softhsmModule(tok, iso), tokenTable("shared", 1, ""), nogroup.gid)
		})
		whileHeld(t, b, []step{
			{Name: "open", Op: "open", Slot: 1, As: "s", Want: "CKR_OK"},
			{Name: "find", Op: "find", S: "s", As: "obj", Want: "CKR_OK|ca-shared"},
			{Name: "held", Op: "pause"},
			{Name: "its handle after the relabel", Op: "getattr", S: "s", O: "obj", Attrs: aRead(pkcs11.CKA_LABEL), Want: "CKR_OBJECT_HANDLE_INVALID", Rule: "objects"},
			{Name: "find after the relabel", Op: "find", S: "s", Want: "CKR_OK|"},
		}, []step{
			{Name: "open", Op: "open", Slot: 1, RW: true, As: "s", Want: "CKR_OK"},
			{Name: "find", Op: "find", S: "s", As: "obj", Want: "CKR_OK|ca-shared"},
			{Name: "relabel", Op: "setattr", S: "s", O: "obj", Attrs: []attr{label("moved")}, Want: "CKR_OK"},
		})
	})
}

// whileHeld runs xSteps as root up to their pause, then ySteps to their
// end as root with group 65534 (another identity), then the rest of
// xSteps, and checks both clients' answers and denials.
func whileHeld(t *testing.T, b *broker, xSteps, ySteps []step) {
	t.Helper()
	dir := openDir(t)
	x := startScript(t, root, clientEnv(b.endpoint(), filepath.Join(dir, "x.log")), xSteps)
	x.next()
	y := startScript(t, nogroup, clientEnv(b.endpoint(), filepath.Join(dir, "y.log")), ySteps)
	y.check(y.finish(), b)
	x.resume(nil)
	x.check(x.finish(), b)
}
