package acl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// policies of TestTwoUsers: the CA may only sign with its CA key; the
// device service makes and uses keys labelled dev-*.
func twoPolicies(caUID, devUID int) string {
	return fmt.Sprintf(`
[[client]]
name = "ca"
uids = [%d]
slots = [1]
objects = ["label:ca-*"]
mechanisms = ["CKM_ECDSA"]
operations = ["sign", "find", "read"]
login = "broker"
read_only = true
max_sessions = 3

[[client]]
name = "dev"
uids = [%d]
slots = [1]
objects = ["label:dev-*"]
operations = ["generate", "create", "sign", "verify", "find", "read", "set-attribute", "wrap", "unwrap", "destroy"]
`, caUID, devUID)
}

// TestTwoUsers: two real users on one unix socket, each with its own
// policy on one SoftHSM2 token, through the Go client (libgop11.so loaded
// with miekg/pkcs11) and pkcs11-tool; a third user matches no policy.
func TestTwoUsers(t *testing.T) {
	requireRoot(t)
	harness.Require(t, "setpriv")
	caUID, devUID := testUser(t, "gop11-acl-ca"), testUser(t, "gop11-acl-dev")
	tok := tokenWithKeys(t)
	sh := newShared(t)
	var all logs
	cfg := `listen = ["unix://%SOCK%"]
socket_mode = "0666"
` + moduleAndTokens(tok, harness.SoftHSM, "process", pinFile(t)) + twoPolicies(caUID, devUID)
	b := startBroker(t, cfg)
	env := func(who string) []string {
		return []string{"GOP11_BROKER=unix://" + b.Sock, "GOP11_LOG=" + filepath.Join(sh.dir, who+".log"), "GOP11_ACL_MODULE=" + sh.module}
	}

	// The device service first, holding its connection open.
	dev := exec.Command(asUser(devUID, sh.self)[0], asUser(devUID, sh.self)[1:]...)
	dev.Env = append(env("dev"), "GOP11_ACL_CLIENT=dev", "GOP11_ACL_PIN="+userPIN, "GOP11_ACL_HOLD=1")
	stdin, _ := dev.StdinPipe()
	stdout, _ := dev.StdoutPipe()
	var devErr strings.Builder
	dev.Stderr = &devErr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); dev.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("dev client: %v\n%s", err, devErr.String())
	}
	var d result
	if err := json.Unmarshal([]byte(line), &d); err != nil {
		t.Fatalf("dev client said %q: %v", line, err)
	}
	all.add(line, devErr.String())
	check(t, "dev", d, result{
		"initialize":             "CKR_OK",
		"open_rw":                "CKR_OK",
		"login_wrong_pin":        "CKR_PIN_INCORRECT", // login = "client": the token judges the PIN
		"login":                  "CKR_OK",
		"objects":                "dev-key,dev-key", // not ca-key
		"sign":                   "CKR_OK",
		"generate_extractable":   "CKR_ATTRIBUTE_READ_ONLY",
		"generate_not_sensitive": "CKR_ATTRIBUTE_READ_ONLY",
		"generate_hidden_label":  "CKR_ACTION_PROHIBITED",
		"generate":               "CKR_OK",
		"set_extractable":        "CKR_ATTRIBUTE_READ_ONLY",
		"set_not_sensitive":      "CKR_ATTRIBUTE_READ_ONLY",
		"relabel_hidden":         "CKR_ACTION_PROHIBITED",
		"wrap_foreign_key":       "CKR_KEY_FUNCTION_NOT_PERMITTED",
		"random_denied":          "CKR_ACTION_PROHIBITED",
		"create_kek":             "CKR_OK",
		"unwrap_not_sensitive":   "CKR_ATTRIBUTE_READ_ONLY",
		"unwrap":                 "CKR_OK",
		"unwrapped_sensitive":    "true",
		"generate_token_object":  "CKR_OK",
		"objects_after":          "dev-kek,dev-key,dev-key,dev-later,dev-mine,dev-unwrapped",
	})

	// The CA, while the device service is connected: it sees its key
	// only, signs with the broker's PIN, and reaches none of the other
	// connection's handles, nor any of 100,000 guessed ones.
	out, stderr, code := run(t, append(env("ca"), "GOP11_ACL_CLIENT=ca",
		"GOP11_ACL_FOREIGN_OBJECTS="+d["object_handles"], "GOP11_ACL_FOREIGN_SESSIONS="+d["session_handle"], "GOP11_ACL_WALK=100000"),
		asUser(caUID, sh.self)...)
	all.add(out, stderr)
	if code != 0 {
		t.Fatalf("ca client: exit %d\n%s", code, stderr)
	}
	var c result
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("ca client said %q: %v", out, err)
	}
	foreign := strings.Repeat("CKR_OBJECT_HANDLE_INVALID,", strings.Count(d["object_handles"], ",")+1)
	check(t, "ca", c, result{
		"initialize":              "CKR_OK",
		"slots":                   "[1] CKR_OK",
		"token_info_hidden_slot":  "CKR_SLOT_ID_INVALID",
		"write_protected":         "true",
		"mechanisms":              "CKM_ECDSA CKR_OK",
		"mechanism_info_denied":   "CKR_MECHANISM_INVALID",
		"open_rw":                 "CKR_TOKEN_WRITE_PROTECTED",
		"open_hidden_slot":        "CKR_SLOT_ID_INVALID",
		"open_ro":                 "CKR_OK",
		"login_any_pin":           "CKR_OK",        // login = "broker"
		"session_state":           "1 CKR_OK",      // CKS_RO_USER_FUNCTIONS
		"objects":                 "ca-key,ca-key", // not dev-*, nor dev-later made since
		"sign":                    "CKR_OK",
		"signature_len":           "64",
		"sign_denied_mechanism":   "CKR_MECHANISM_INVALID",
		"verify_denied_operation": "CKR_KEY_FUNCTION_NOT_PERMITTED",
		"random_denied":           "CKR_ACTION_PROHIBITED",
		"create_denied":           "CKR_ACTION_PROHIBITED",
		"login_so_denied":         "CKR_ACTION_PROHIBITED",
		"set_pin_denied":          "CKR_ACTION_PROHIBITED",
		"init_pin_denied":         "CKR_ACTION_PROHIBITED",
		"init_token_denied":       "CKR_ACTION_PROHIBITED",
		"foreign_objects":         strings.TrimSuffix(foreign, ","),
		"foreign_sessions":        "CKR_SESSION_HANDLE_INVALID",
		"walked":                  "100000",
		"walk_objects_reached":    "",
		"walk_sessions_reached":   "",
		"max_sessions":            "3 CKR_SESSION_COUNT",
	})
	stdin.Close()
	dev.Wait()

	// pkcs11-tool, as each user.
	pt := func(uid int, who string, args ...string) (string, int) {
		out, stderr, code := run(t, env(who), asUser(uid, append([]string{"pkcs11-tool", "--module", sh.module}, args...)...)...)
		all.add(out, stderr)
		return out + stderr, code
	}
	if out, code := pt(caUID, "ca", "-L"); code != 0 || strings.Count(out, "token label") != 1 || !strings.Contains(out, "shared") {
		t.Errorf("ca: pkcs11-tool -L (exit %d) should list the shared token only:\n%s", code, out)
	}
	if out, code := pt(caUID, "ca", "--login", "--pin", "0000", "-O"); code != 0 || strings.Contains(out, "dev-") || strings.Count(out, "ca-key") != 2 {
		t.Errorf("ca: pkcs11-tool -O (exit %d) should show ca-key only:\n%s", code, out)
	}
	if out, code := pt(caUID, "ca", "-M"); code != 0 || !strings.Contains(out, "ECDSA") || strings.Contains(out, "RSA") {
		t.Errorf("ca: pkcs11-tool -M (exit %d) should list ECDSA only:\n%s", code, out)
	}
	in := filepath.Join(sh.dir, "data")
	writeFile(t, in, "to be signed")
	if out, code := pt(caUID, "ca", "--login", "--pin", "0000", "--sign", "-m", "ECDSA", "--id", "01", "-i", in, "-o", filepath.Join(sh.dir, "sig")); code != 0 {
		t.Errorf("ca: pkcs11-tool --sign with a placeholder PIN (exit %d):\n%s", code, out)
	}
	if out, code := pt(caUID, "ca", "--login", "--pin", "0000", "--sign", "-m", "ECDSA", "--id", "02", "-i", in, "-o", filepath.Join(sh.dir, "sig2")); code == 0 || !strings.Contains(out, "not found") {
		t.Errorf("ca: signing with dev-key must fail, the key being hidden (exit %d):\n%s", code, out)
	}
	if out, code := pt(devUID, "dev", "--login", "--pin", "0000", "-O"); code == 0 || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Errorf("dev: a wrong PIN must give CKR_PIN_INCORRECT (exit %d):\n%s", code, out)
	}
	if out, code := pt(devUID, "dev", "--login", "--pin", userPIN, "-O"); code != 0 || strings.Contains(out, "ca-key") || !strings.Contains(out, "dev-later") {
		t.Errorf("dev: pkcs11-tool -O (exit %d) should show dev-* only:\n%s", code, out)
	}
	// A user no [[client]] names is refused before any PKCS #11 call.
	if out, code := pt(65534, "nobody", "-L"); code == 0 || !strings.Contains(out, "CKR_DEVICE_ERROR") {
		t.Errorf("nobody: pkcs11-tool -L must fail with CKR_DEVICE_ERROR (exit %d):\n%s", code, out)
	}
	if log := readFile(filepath.Join(sh.dir, "nobody.log")); !strings.Contains(log, "refused this client") || !strings.Contains(log, "no [[client]]") {
		t.Errorf("nobody's module log does not say it was refused:\n%s", log)
	}
	log := b.Log()
	if !strings.Contains(log, `"message":"client refused: no [[client]] matches its identity"`) || !strings.Contains(log, "uid=65534") {
		t.Error("the broker log does not name the refused client")
	}
	// Every denial is one line naming the call, the rule and the code.
	for _, want := range []string{
		`"call":"C_SignInit","slot":1,"rule":"mechanisms: CKM_ECDSA_SHA256","rv":"CKR_MECHANISM_INVALID"`,
		`"call":"C_GenerateRandom","slot":1,"rule":"operations: random","rv":"CKR_ACTION_PROHIBITED"`,
		`"rule":"key-extraction guard: CKA_EXTRACTABLE","rv":"CKR_ATTRIBUTE_READ_ONLY"`,
		`"call":"C_OpenSession","slot":1,"rule":"max_sessions","rv":"CKR_SESSION_COUNT"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("broker log lacks a denial line with %s", want)
		}
	}
	// The PIN, in any encoding, is in no log and no output.
	all.add(log)
	for _, who := range []string{"ca", "dev", "nobody"} {
		all.add(readFile(filepath.Join(sh.dir, who+".log")))
	}
	noPIN(t, "the logs and outputs of the run", all.buf.String())
}

// check compares the steps of a client's result with want.
func check(t *testing.T, who string, got, want result) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: %s = %q, want %q", who, k, g, w)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}
