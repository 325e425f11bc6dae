package access

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/miekg/pkcs11"
)

// placeholder is Amplia's Pin= when the broker holds the PIN.
const placeholder = "placeholder"

// pinConfig: the token's PIN in a root-owned file; root with group 0
// ("amplia") gets the broker's login, root with group 65534 ("strict")
// must log in itself.
func pinConfig(sock, iso string, tok *harness.Token, pin string, strictGID int) string {
	return fmt.Sprintf(`listen = ["unix://%s"]
socket_mode = "0666"
log_level = "debug"
%s%s
[[client]]
name = "amplia"
uids = [0]
gids = [0]
slots = [1]
objects = ["label:ca-*"]
mechanisms = ["CKM_ECDSA"]
operations = ["sign", "verify", "find", "read"]
login = "broker"

[[client]]
name = "strict"
uids = [0]
gids = [%d]
login = "client"
`, sock, softhsmModule(tok, iso), tokenTable("shared", 1, pin), strictGID)
}

// TestBrokerHeldPIN: applications with no PIN or a wrong one sign with
// the token's PIN the broker holds (pkcs11-tool, the C client's Amplia
// flow with Pin= a placeholder, the Go client with an empty PIN); a
// client whose policy says login = "client" sending the same wrong PIN
// gets CKR_PIN_INCORRECT; and no log or output of the run holds the PIN
// in any encoding.
func TestBrokerHeldPIN(t *testing.T) {
	for _, iso := range []string{"process", "handoff"} {
		t.Run(iso, func(t *testing.T) { brokerHeldPIN(t, iso) })
	}
}

func brokerHeldPIN(t *testing.T, iso string) {
	requireRoot(t)
	for _, tool := range []string{"pkcs11-tool", "gcc", "setpriv"} {
		harness.Require(t, tool)
	}
	strict := nogroup
	tok := newTokens(t)
	p11flow := harness.P11Flow(t)
	b := startBroker(t, func(sock string) string { return pinConfig(sock, iso, tok, pinFile(t), strict.gid) })
	dir := openDir(t)
	_, mod := clientBins(t)
	env := func(w who) []string { return clientEnv(b.endpoint(), filepath.Join(dir, w.name+".log")) }
	var outputs []string
	keep := func(r harness.Result) harness.Result { outputs = append(outputs, r.Stdout, r.Stderr); return r }

	in, sig := filepath.Join(dir, "digest"), filepath.Join(dir, "sig")
	if err := os.WriteFile(in, []byte(strings.Repeat("d", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("pkcs11-tool with a wrong PIN", func(t *testing.T) {
		r := keep(p11tool(t, root, mod, env(root), "--sign", "--login", "--pin", wrongPIN, "--id", "01", "-m", "ECDSA", "--input-file", in, "--output-file", sig))
		if fi, err := os.Stat(sig); r.Code != 0 || err != nil || fi.Size() != 64 {
			t.Errorf("pkcs11-tool --sign: exit %d, signature %v %v, want 64 bytes\n%s", r.Code, fi, err, r.Stderr)
		}
	})
	t.Run("Amplia flow with Pin= a placeholder", func(t *testing.T) {
		// Module=libgop11.so, found by the loader, as Amplia names it.
		r := keep(harness.RunCmd(t, harness.Command{Name: p11flow,
			Args: []string{"libgop11.so", "oslocking", "serial=" + tok.Serial,
				"sign", "ca-key", "ecdsa", in, filepath.Join(dir, "flow.sig"),
				"verify", "ca-key", "ecdsa", in, filepath.Join(dir, "flow.sig")},
			Env: append(env(root), "P11FLOW_PIN="+placeholder, "LD_LIBRARY_PATH="+filepath.Dir(mod))}))
		for _, want := range []string{`label "shared", serial "` + tok.Serial + `"`, "login: rv=0x0", "signed with ca-key (ecdsa): 64 bytes", "verified with ca-key", "done"} {
			if r.Code != 0 || !strings.Contains(r.Stdout, want) {
				t.Errorf("p11flow: exit %d, output lacks %q:\n%s%s", r.Code, want, r.Stdout, r.Stderr)
			}
		}
	})
	t.Run("Go client without a PIN", func(t *testing.T) {
		// Its C_Login sends an empty PIN.
		s := startScript(t, root, env(root), loggedIn(1, "", []step{
			{Name: "find key", Op: "find", S: "s", As: "key", Attrs: []attr{class(pkcs11.CKO_PRIVATE_KEY)}, Want: "CKR_OK|ca-key"},
			{Name: "sign", Op: "sign", S: "s", O: "key", Mech: pkcs11.CKM_ECDSA, Want: "CKR_OK|64"},
		}...))
		s.check(s.finish(), b)
		outputs = append(outputs, s.output())
	})
	t.Run("login = client with the same wrong PINs", func(t *testing.T) {
		s := startScript(t, strict, env(strict), []step{
			{Name: "open", Op: "open", Slot: 1, RW: true, As: "s", Want: "CKR_OK"},
			{Name: "wrong PIN", Op: "login", S: "s", User: pkcs11.CKU_USER, PIN: wrongPIN, Want: "CKR_PIN_INCORRECT"},
			{Name: "placeholder", Op: "login", S: "s", User: pkcs11.CKU_USER, PIN: placeholder, Want: "CKR_PIN_INCORRECT"},
			{Name: "no private key", Op: "find", S: "s", Attrs: []attr{class(pkcs11.CKO_PRIVATE_KEY)}, Want: "CKR_OK|"},
			// No operations list: all but login-so, init-token, init-pin, set-pin.
			{Name: "SO login", Op: "login", S: "s", User: pkcs11.CKU_SO, PIN: soPIN, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: login-so"},
			{Name: "set PIN", Op: "setpin", S: "s", PIN: wrongPIN, Want: "CKR_ACTION_PROHIBITED", Rule: "operations: set-pin"},
		})
		s.check(s.finish(), b)
		outputs = append(outputs, s.output())
		r := keep(p11tool(t, strict, mod, env(strict), "-O", "--login", "--pin", wrongPIN))
		if r.Code == 0 || !strings.Contains(r.Stderr, "CKR_PIN_INCORRECT") {
			t.Errorf("pkcs11-tool -O --login --pin %s: exit %d, want CKR_PIN_INCORRECT\n%s", wrongPIN, r.Code, r.Stderr)
		}
	})

	// Every log of the run: the broker's (after it has stopped), every
	// module log, everything the clients printed, and the config.
	b.stop()
	texts := map[string]string{"broker log": b.log(), "clients' output": strings.Join(outputs, "\n")}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Error("no module log was written")
	}
	for _, f := range append(logs, b.cfg) {
		data, _ := os.ReadFile(f)
		texts[f] = string(data)
	}
	// At debug level the broker logs every call: the search covers them.
	if !strings.Contains(texts["broker log"], `"call":"C_Login"`) {
		t.Error("the broker log has no C_Login line: not at debug level, the search proves little")
	}
	for what, text := range texts {
		for form, s := range harness.SecretForms(userPIN) {
			if strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
				t.Errorf("%s holds the token's PIN (%s: %q)", what, form, s)
			}
		}
	}
}
