package access

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/miekg/pkcs11"
)

// walkN is how many session and object handles the walking client tries
// (each both ways), besides the other client's own.
const walkN = 50000

// usersConfig: one socket everyone may open, the tokens "shared" (slot 1,
// its PIN held by the broker) and "other" (slot 2), and two policies.
// "ca" (user a): slot 1, objects labelled ca-*, CKM_ECDSA only, sign,
// find, read and create, the broker's login, read-only, 3 sessions.
// "dev" (user b): every slot, objects labelled dev-* or with an ID
// starting 02, every operation but random (and login-so, listed), its
// own login.
// The objects b makes that a policy would hide from b (ca-evil, ca-copy)
// are refused and destroyed: a's later finds show none of them.
func usersConfig(sock string, tok *harness.Token, isolation, pin string, a, b who) string {
	return fmt.Sprintf(`listen = ["unix://%s"]
socket_mode = "0666"
log_level = "info"
%s%s%s
[[client]]
name = "ca"
uids = [%d]
slots = [1]
objects = ["label:ca-*"]
mechanisms = ["CKM_ECDSA"]
operations = ["sign", "find", "read", "create"]
login = "broker"
read_only = true
max_sessions = 3

[[client]]
name = "dev"
uids = [%d]
objects = ["label:dev-*", "id:02*"]
operations = ["sign", "verify", "encrypt", "decrypt", "digest", "wrap", "unwrap", "derive", "generate",
              "create", "copy", "destroy", "set-attribute", "read", "find", "login-so"]
login = "client"
`, sock, softhsmModule(tok, isolation), tokenTable("shared", 1, pin), tokenTable("other", 2, ""), a.uid, b.uid)
}

// TestTwoUsers: two real users on one unix socket, with different
// policies on one token, each through pkcs11-tool and the Go client; a
// third identity (root) that no policy names is refused. User a's client
// holds its sessions while user b's client tries a's handles and walks
// 2×50k handle numbers, and b makes objects a must never see.
func TestTwoUsers(t *testing.T) {
	requireRoot(t)
	harness.Require(t, "pkcs11-tool")
	ua, ub := makeUser(t, "gop11-acl-a"), makeUser(t, "gop11-acl-b")
	inBoth(t, func(t *testing.T, iso string) {
		tok := newTokens(t)
		pin := pinFile(t)
		b := startBroker(t, func(sock string) string { return usersConfig(sock, tok, iso, pin, ua, ub) })
		dir := openDir(t)
		_, mod := clientBins(t)
		env := func(w who) []string { return clientEnv(b.endpoint(), filepath.Join(dir, w.name+".log")) }

		t.Run("no policy names root", func(t *testing.T) { refusedRoot(t, b, mod, env(root), filepath.Join(dir, root.name+".log")) })
		t.Run("pkcs11-tool as a", func(t *testing.T) { toolAsCA(t, ua, mod, env(ua), dir) })
		t.Run("pkcs11-tool as b", func(t *testing.T) { toolAsDev(t, ub, mod, env(ub), dir) })
		t.Run("Go clients", func(t *testing.T) { goClients(t, b, iso, ua, ub, env) })
	})
}

// refusedRoot: a connection matching no [[client]] is refused at connect.
func refusedRoot(t *testing.T, b *broker, mod string, env []string, logFile string) {
	r := p11tool(t, root, mod, env, "-L")
	if r.Code == 0 {
		t.Errorf("pkcs11-tool -L as root: exit 0, want a failure:\n%s", r.Stdout)
	}
	if log, _ := os.ReadFile(logFile); !strings.Contains(string(log), "refused") {
		t.Errorf("root's module log does not say the broker refused it:\n%s", log)
	}
	rep := runScript(t, root, env, []step{{Name: "slots", Op: "slots"}})
	if got := rep.Answers["initialize"].RV; got != "CKR_DEVICE_ERROR" {
		t.Errorf("Go client as root: C_Initialize %s, want CKR_DEVICE_ERROR", got)
	}
	b.waitCount("client refused: no [[client]] matches its identity", func(e entry) bool {
		return e.str("identity") == fmt.Sprintf("uid=0 gid=0 pid=%d", rep.PID)
	}, 1, "the refusal of the Go client (uid 0)")
}

var slotLine = regexp.MustCompile(`(?m)^Slot \d+ \((0x[0-9a-f]+)\)`)

// slotsOf lists the slot IDs pkcs11-tool -L printed.
func slotsOf(out string) string {
	var ids []string
	for _, m := range slotLine.FindAllStringSubmatch(out, -1) {
		ids = append(ids, m[1])
	}
	return strings.Join(ids, ",")
}

var objectLine = regexp.MustCompile(`(?m)^(\w+ Key Object|Data object)[^\n]*\n(?:\s+[^\n]*\n)*?\s+label:\s+(\S+)`)

// objectsOf lists "kind label" for each object pkcs11-tool -O printed.
func objectsOf(out string) string {
	var objs []string
	for _, m := range objectLine.FindAllStringSubmatch(out, -1) {
		objs = append(objs, m[1]+" "+m[2])
	}
	slices.Sort(objs)
	return strings.Join(objs, "; ")
}

// mechanismsOf lists the mechanism names pkcs11-tool --list-mechanisms printed.
func mechanismsOf(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  ") {
			names = append(names, strings.TrimSpace(strings.Split(line, ",")[0]))
		}
	}
	return names
}

// toolAsCA: user a sees slot 1 alone, its ca-key alone, CKM_ECDSA alone;
// it signs with any PIN; another mechanism is refused.
func toolAsCA(t *testing.T, w who, mod string, env []string, dir string) {
	ok := func(args ...string) string {
		t.Helper()
		r := p11tool(t, w, mod, env, args...)
		if r.Code != 0 {
			t.Fatalf("pkcs11-tool %s as %s: exit %d\n%s%s", strings.Join(args, " "), w.name, r.Code, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	if got := slotsOf(ok("-L")); got != "0x1" {
		t.Errorf("-L: slots %q, want 0x1 alone", got)
	}
	if got := mechanismsOf(ok("--list-mechanisms", "--slot", "1")); !slices.Equal(got, []string{"ECDSA"}) {
		t.Errorf("--list-mechanisms: %q, want ECDSA alone", got)
	}
	want := "Private Key Object ca-key; Public Key Object ca-key"
	if got := objectsOf(ok("-O", "--slot", "1", "--login", "--pin", wrongPIN)); got != want {
		t.Errorf("-O --login: %q, want %q", got, want)
	}
	in, sig := filepath.Join(dir, "a.in"), filepath.Join(dir, "a.sig")
	if err := os.WriteFile(in, make([]byte, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	ok("--sign", "--slot", "1", "--login", "--pin", wrongPIN, "--id", "01", "-m", "ECDSA", "--input-file", in, "--output-file", sig)
	if fi, err := os.Stat(sig); err != nil || fi.Size() != 64 {
		t.Errorf("--sign: signature file %v %v, want 64 bytes", fi, err)
	}
	r := p11tool(t, w, mod, env, "--sign", "--slot", "1", "--login", "--pin", wrongPIN, "--id", "01", "-m", "SHA256-RSA-PKCS", "--input-file", in, "--output-file", sig)
	if r.Code == 0 || !strings.Contains(r.Stderr, "CKR_MECHANISM_INVALID") {
		t.Errorf("--sign -m SHA256-RSA-PKCS: exit %d, want a failure with CKR_MECHANISM_INVALID:\n%s", r.Code, r.Stderr)
	}
}

// toolAsDev: user b sees both slots and its dev-key; a wrong PIN is
// refused by the token; it signs with the right one.
func toolAsDev(t *testing.T, w who, mod string, env []string, dir string) {
	run := func(args ...string) harness.Result {
		t.Helper()
		return p11tool(t, w, mod, env, args...)
	}
	if r := run("-L"); r.Code != 0 || slotsOf(r.Stdout) != "0x1,0x2" {
		t.Errorf("-L: exit %d, slots %q, want 0x1,0x2", r.Code, slotsOf(r.Stdout))
	}
	if r := run("--list-mechanisms", "--slot", "1"); r.Code != 0 || !slices.Contains(mechanismsOf(r.Stdout), "ECDSA") || !slices.Contains(mechanismsOf(r.Stdout), "SHA256") {
		t.Errorf("--list-mechanisms: exit %d, %q lacks ECDSA or SHA256", r.Code, mechanismsOf(r.Stdout))
	}
	want := "Private Key Object dev-key; Public Key Object dev-key; Secret Key Object by-id"
	if r := run("-O", "--slot", "1", "--login", "--pin", userPIN); r.Code != 0 || objectsOf(r.Stdout) != want {
		t.Errorf("-O --login: exit %d, %q, want %q\n%s", r.Code, objectsOf(r.Stdout), want, r.Stderr)
	}
	if r := run("-O", "--slot", "1", "--login", "--pin", wrongPIN); r.Code == 0 || !strings.Contains(r.Stderr, "CKR_PIN_INCORRECT") {
		t.Errorf("-O with a wrong PIN: exit %d, want CKR_PIN_INCORRECT:\n%s", r.Code, r.Stderr)
	}
	in, sig := filepath.Join(dir, "b.in"), filepath.Join(dir, "b.sig")
	if err := os.WriteFile(in, make([]byte, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run("--sign", "--slot", "1", "--login", "--pin", userPIN, "--id", "02", "-m", "ECDSA", "--input-file", in, "--output-file", sig); r.Code != 0 {
		t.Errorf("--sign: exit %d\n%s", r.Code, r.Stderr)
	}
}

func class(c uint) attr   { return aNum(pkcs11.CKA_CLASS, c) }
func label(l string) attr { return aStr(pkcs11.CKA_LABEL, l) }

// caSteps is user a's script: every rule of policy "ca", then a pause
// holding two sessions, then what it sees once b has made objects.
func caSteps(iso string) []step {
	// After the pause, with a logged out and b logged in: a shows the
	// public key alone, whatever the isolation (a shared module's login
	// is b's alone).
	afterPause := "ca-key"
	return []step{
		{Name: "slot list", Op: "slots", Want: "CKR_OK|1"},
		{Name: "hidden slot: slot info", Op: "slotinfo", Slot: 2, Want: "CKR_SLOT_ID_INVALID", Rule: "slots"},
		{Name: "hidden slot: token info", Op: "tokeninfo", Slot: 2, Want: "CKR_SLOT_ID_INVALID", Rule: "slots"},
		{Name: "hidden slot: open", Op: "open", Slot: 2, Want: "CKR_SLOT_ID_INVALID", Rule: "slots"},
		{Name: "hidden slot: mechanisms", Op: "mechs", Slot: 2, Want: "CKR_SLOT_ID_INVALID", Rule: "slots"},
		{Name: "token info", Op: "tokeninfo", Slot: 1, Want: "CKR_OK|write-protected=true"},
		{Name: "mechanism list", Op: "mechs", Slot: 1, Want: "CKR_OK|CKM_ECDSA"},
		{Name: "denied mechanism: info", Op: "mechinfo", Slot: 1, Mech: pkcs11.CKM_SHA256, Want: "CKR_MECHANISM_INVALID", Rule: "mechanisms"},
		{Name: "read-only: R/W session", Op: "open", Slot: 1, RW: true, Want: "CKR_TOKEN_WRITE_PROTECTED", Rule: "read_only"},
		{Name: "open", Op: "open", Slot: 1, As: "s", Want: "CKR_OK"},
		{Name: "broker login: any PIN", Op: "login", S: "s", User: pkcs11.CKU_USER, PIN: wrongPIN, Want: "CKR_OK"},
		{Name: "session state", Op: "sessinfo", S: "s", Want: "CKR_OK|state=1"}, // CKS_RO_USER_FUNCTIONS
		{Name: "find all", Op: "find", S: "s", As: "objs", Want: "CKR_OK|ca-key,ca-key"},
		{Name: "find dev-key", Op: "find", S: "s", Attrs: []attr{label("dev-key")}, Want: "CKR_OK|"},
		{Name: "find data", Op: "find", S: "s", Attrs: []attr{class(pkcs11.CKO_DATA)}, Want: "CKR_OK|"},
		{Name: "find key", Op: "find", S: "s", As: "key", Attrs: []attr{class(pkcs11.CKO_PRIVATE_KEY), label("ca-key")}, Want: "CKR_OK|ca-key"},
		{Name: "find public key", Op: "find", S: "s", As: "pub", Attrs: []attr{class(pkcs11.CKO_PUBLIC_KEY)}, Want: "CKR_OK|ca-key"},
		{Name: "sign", Op: "sign", S: "s", O: "key", Mech: pkcs11.CKM_ECDSA, Want: "CKR_OK|64"},
		// SoftHSM2 would answer CKR_KEY_TYPE_INCONSISTENT: the broker answers first.
		{Name: "denied mechanism: sign", Op: "sign", S: "s", O: "key", Mech: pkcs11.CKM_SHA256_RSA_PKCS, Want: "CKR_MECHANISM_INVALID", Rule: "mechanisms"},
		{Name: "denied operation on a key: verify", Op: "verifyinit", S: "s", O: "pub", Mech: pkcs11.CKM_ECDSA, Want: "CKR_KEY_FUNCTION_NOT_PERMITTED", Rule: "operations: verify", Label: "ca-key"},
		{Name: "denied operation on a key: set-attribute", Op: "setattr", S: "s", O: "key", Attrs: []attr{label("ca-key2")}, Want: "CKR_KEY_FUNCTION_NOT_PERMITTED", Rule: "operations: set-attribute"},
		{Name: "denied operation on a key: destroy", Op: "destroy", S: "s", O: "pub", Want: "CKR_KEY_FUNCTION_NOT_PERMITTED", Rule: "operations: destroy"},
		{Name: "denied operation without a key: random", Op: "random", S: "s", N: 8, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: random"},
		{Name: "read-only: create", Op: "create", S: "s", Attrs: []attr{class(pkcs11.CKO_DATA), label("ca-note")}, Want: "CKR_SESSION_READ_ONLY", Rule: "read_only"},
		{Name: "SO login", Op: "login", S: "s", User: pkcs11.CKU_SO, PIN: soPIN, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: login-so"},
		{Name: "set PIN", Op: "setpin", S: "s", PIN: wrongPIN, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: set-pin"},
		{Name: "init PIN", Op: "initpin", S: "s", PIN: wrongPIN, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: init-pin"},
		{Name: "init token", Op: "inittoken", Slot: 1, PIN: soPIN, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: init-token"},
		{Name: "second session", Op: "open", Slot: 1, As: "s2", Want: "CKR_OK"},
		{Name: "logout", Op: "logout", S: "s", Want: "CKR_OK"},
		{Name: "held", Op: "pause"},
		{Name: "find public keys again", Op: "find", S: "s", Attrs: []attr{class(pkcs11.CKO_PUBLIC_KEY)}, Want: "CKR_OK|ca-key"},
		{Name: "find all again", Op: "find", S: "s", Want: "CKR_OK|" + afterPause},
		{Name: "find b's object", Op: "find", S: "s", Attrs: []attr{label("dev-later")}, Want: "CKR_OK|"},
		{Name: "b's sessions", Op: "probe-sessions", L: "b-sessions"},
		{Name: "b's objects", Op: "probe-objects", S: "s", L: "b-objects"},
		{Name: "max sessions", Op: "open-max", Slot: 1, Want: "CKR_SESSION_COUNT|1", Rule: "max_sessions"},
		{Name: "close one", Op: "close", S: "s2", Want: "CKR_OK"},
		{Name: "open after close", Op: "open", Slot: 1, Want: "CKR_OK"},
	}
}

// devSteps is user b's script: policy "dev", a's handles and a walk, and
// objects made while a holds its sessions.
func devSteps(aSessions, aObjects []uint) []step {
	return []step{
		{Name: "slot list", Op: "slots", Want: "CKR_OK|1,2"},
		{Name: "token info", Op: "tokeninfo", Slot: 1, Want: "CKR_OK|write-protected=false"},
		{Name: "mechanism info", Op: "mechinfo", Slot: 1, Mech: pkcs11.CKM_SHA256, Want: "CKR_OK"},
		{Name: "open", Op: "open", Slot: 1, RW: true, As: "s", Want: "CKR_OK"},
		{Name: "client login: wrong PIN", Op: "login", S: "s", User: pkcs11.CKU_USER, PIN: wrongPIN, Want: "CKR_PIN_INCORRECT"},
		{Name: "client login", Op: "login", S: "s", User: pkcs11.CKU_USER, PIN: userPIN, Want: "CKR_OK"},
		// by-id by its CKA_ID (02 05 starts with 02), the rest by label.
		{Name: "find all", Op: "find", S: "s", As: "objs", Want: "CKR_OK|by-id,dev-key,dev-key"},
		{Name: "find ca-key", Op: "find", S: "s", Attrs: []attr{label("ca-key")}, Want: "CKR_OK|"},
		{Name: "find key", Op: "find", S: "s", As: "key", Attrs: []attr{class(pkcs11.CKO_PRIVATE_KEY)}, Want: "CKR_OK|dev-key"},
		{Name: "sign", Op: "sign", S: "s", O: "key", Mech: pkcs11.CKM_ECDSA, Want: "CKR_OK|64"},
		{Name: "denied operation without a key: random", Op: "random", S: "s", N: 8, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: random"},
		{Name: "make dev-later", Op: "create", S: "s", As: "later", Want: "CKR_OK",
			Attrs: []attr{class(pkcs11.CKO_DATA), aBool(pkcs11.CKA_TOKEN, true), label("dev-later")}},
		{Name: "make ca-evil", Op: "create", S: "s", Want: "CKR_ACTION_PROHIBITED", Rule: "objects: the new object",
			Label: "ca-evil", Attrs: []attr{class(pkcs11.CKO_DATA), aBool(pkcs11.CKA_TOKEN, true), label("ca-evil")}},
		{Name: "copy to ca-copy", Op: "copy", S: "s", O: "later", Attrs: []attr{label("ca-copy")}, Want: "CKR_ACTION_PROHIBITED", Rule: "objects: the new object"},
		{Name: "relabel to ca-later", Op: "setattr", S: "s", O: "later", Attrs: []attr{label("ca-later")}, Want: "CKR_ACTION_PROHIBITED", Rule: "objects: the new label", Label: "dev-later"},
		{Name: "a's sessions", Op: "probe-sessions", H: aSessions},
		{Name: "a's objects", Op: "probe-objects", S: "s", H: aObjects},
		{Name: "walk", Op: "walk", S: "s", N: walkN, H: append(slices.Clone(aSessions), aObjects...), Want: "CKR_OK|"},
		{Name: "second slot", Op: "open", Slot: 2, RW: true, As: "s2", Want: "CKR_OK"},
		{Name: "SO login, listed", Op: "login", S: "s2", User: pkcs11.CKU_SO, PIN: soPIN, Want: "CKR_OK"},
		{Name: "SO logout", Op: "logout", S: "s2", Want: "CKR_OK"},
		{Name: "held", Op: "pause"},
	}
}

// goClients runs a's and b's Go clients: a holds while b works, then b
// holds while a looks again.
func goClients(t *testing.T, b *broker, iso string, ua, ub who, env func(who) []string) {
	ca := startScript(t, ua, env(ua), caSteps(iso))
	held := ca.next()
	if held.Paused != "held" {
		t.Fatalf("a's client: report at %q, want the pause", held.Paused)
	}
	aSessions := []uint{held.Vars["s"], held.Vars["s2"]}
	aObjects := held.Lists["objs"]
	if len(aObjects) != 2 {
		t.Fatalf("a found %v, want two objects", aObjects)
	}
	dev := startScript(t, ub, env(ub), devSteps(aSessions, aObjects))
	bHeld := dev.next()
	if bHeld.Paused != "held" {
		t.Fatalf("b's client: report at %q, want the pause", bHeld.Paused)
	}
	allInvalid(t, "b tries a's sessions", bHeld.Answers["a's sessions"], "CKR_SESSION_HANDLE_INVALID", len(aSessions))
	allInvalid(t, "b tries a's objects", bHeld.Answers["a's objects"], "CKR_OBJECT_HANDLE_INVALID", len(aObjects))
	t.Logf("b walked 2 × %d handles in %s", walkN, bHeld.Answers["walk (time)"].V)

	bSessions := []uint{bHeld.Vars["s"], bHeld.Vars["s2"]}
	bObjects := append(slices.Clone(bHeld.Lists["objs"]), bHeld.Vars["later"])
	ca.resume(map[string][]uint{"b-sessions": bSessions, "b-objects": bObjects})
	aEnd := ca.finish()
	allInvalid(t, "a tries b's sessions", aEnd.Answers["b's sessions"], "CKR_SESSION_HANDLE_INVALID", len(bSessions))
	allInvalid(t, "a tries b's objects", aEnd.Answers["b's objects"], "CKR_OBJECT_HANDLE_INVALID", len(bObjects))
	dev.resume(nil)
	bEnd := dev.finish()
	ca.check(aEnd, b)
	dev.check(bEnd, b)
}

// allInvalid checks that a probe answered rv for each of its n handles.
func allInvalid(t *testing.T, what string, a answer, rv string, n int) {
	t.Helper()
	want := strings.TrimSuffix(strings.Repeat(rv+",", n), ",")
	if a.V != want {
		t.Errorf("%s: %q, want %s for each of %d", what, a.V, rv, n)
	}
}
