// Package audit tests the broker's [audit] log: the same pkcs11-tool
// session through a config-mode broker at each verbosity, the log checked
// line by line for what must and must not be there, and SIGHUP reopening
// a file logrotate moved.
package audit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

const (
	pin      = "Qx7-audit-4711"
	wrongPIN = "Qx7-wrong-0000"
)

type line map[string]any

func (l line) is(event, call string) bool {
	return l["event"] == event && (call == "" || l["call"] == call)
}

func readLog(t *testing.T, path string) []line {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []line
	for _, s := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if s == "" {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("audit line is not JSON: %s", s)
		}
		out = append(out, l)
	}
	return out
}

// isolations: the module is shared, its calls routed by the broker or
// served by its worker, to which the broker hands each connection.
var isolations = []struct{ name, keys string }{{"shared", ""}, {"handoff", "handoff = true"}}

// config: keys are more [[module]] keys (handoff).
func config(tok *harness.Token, path, level, keys string) string {
	return `listen = ["unix://%SOCK%"]
[audit]
path = "` + path + `"
verbosity = "` + level + `"
` + harness.ModuleTOML("softhsm", harness.SoftHSM, "shared", keys, map[string]string{"SOFTHSM2_CONF": tok.Conf}) +
		harness.TokenTOML("softhsm", "pkcs11:token=audited", 1) + `
[[client]]
name = "auditor"
uids = [0]
operations = ["sign", "find", "read", "generate"]
`
}

// session is the same client work at every level: a key pair made, a
// signature, a wrong PIN, a destroy the policy denies, the token info.
func session(t *testing.T, b *harness.ConfigBroker) {
	t.Helper()
	env := []string{"GOP11_BROKER=unix://" + b.Sock}
	p11 := func(want int, args ...string) {
		t.Helper()
		out, stderr, code := harness.Run(t, env, "pkcs11-tool", append([]string{"--module", harness.Module(), "--slot", "1"}, args...)...)
		if (code == 0) != (want == 0) {
			t.Fatalf("pkcs11-tool %v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("audited data, 32 bytes of input!"), 0o600)
	p11(0, "--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "audit-key", "--id", "0a")
	p11(0, "--login", "--pin", pin, "--sign", "--mechanism", "ECDSA", "--id", "0a", "--input-file", in, "--output-file", filepath.Join(dir, "sig"))
	p11(1, "--login", "--pin", wrongPIN, "--list-objects")
	p11(1, "--login", "--pin", pin, "--delete-object", "--type", "privkey", "--id", "0a")
	p11(0, "--list-token-slots")
}

func TestLevels(t *testing.T) {
	harness.Require(t, "pkcs11-tool")
	var (
		generated = check{"the key pair's generation, naming the key", func(l line) bool {
			return l.is("key_lifecycle", "C_GenerateKeyPair") && l["rv"] == "CKR_OK" && strings.Contains(asString(l["made"]), "audit-key/0a/CKK_EC")
		}}
		signInit = check{"C_SignInit with the key's label and ID and the mechanism", func(l line) bool {
			return l.is("key_use", "C_SignInit") && l["key_label"] == "audit-key" && l["key_id"] == "0a" && l["mechanism"] == "CKM_ECDSA"
		}}
		signed = check{"C_Sign with the key and its result", func(l line) bool {
			return l.is("key_use", "C_Sign") && l["key_label"] == "audit-key" && l["rv"] == "CKR_OK" && l["took"] != nil
		}}
		connect = check{"a connect line", func(l line) bool { return l.is("connect", "") && strings.Contains(asString(l["identity"]), "uid=0") }}
		login   = check{"a user login", func(l line) bool { return l.is("login", "C_Login") && l["user"] == "user" && l["rv"] == "CKR_OK" }}
		wrong   = check{"the wrong PIN's login", func(l line) bool { return l.is("login", "C_Login") && l["rv"] == "CKR_PIN_INCORRECT" }}
		denied  = check{"the denied destroy", func(l line) bool {
			return l.is("denied", "") && l["call"] == "C_DestroyObject" && l["client"] == "auditor"
		}}
		find      = check{"a plain call (C_FindObjectsInit)", func(l line) bool { return l.is("call", "C_FindObjectsInit") }}
		tokenInfo = check{"C_GetTokenInfo", func(l line) bool { return l["call"] == "C_GetTokenInfo" }}
		dataLen   = check{"C_Sign's data length", func(l line) bool { return l["call"] == "C_Sign" && l["data_len"] == 32.0 }}
		dataHash  = check{"C_Sign's data hash", func(l line) bool { return l["call"] == "C_Sign" && l["data_sha256"] != nil }}
	)
	all := []check{generated, signInit, signed, connect, login, wrong, denied, find, tokenInfo, dataLen, dataHash}
	levels := []struct {
		name string
		has  []check
	}{
		{"none", nil},
		{"key_only", []check{generated, signInit, signed}},
		{"quiet", []check{generated, signInit, signed, connect, login, wrong, denied}},
		{"info", []check{generated, signInit, signed, connect, login, wrong, denied, find}},
		{"verbose", []check{generated, signInit, signed, connect, login, wrong, denied, find, dataLen}},
		{"full", all},
	}
	for _, iso := range isolations {
		for _, lv := range levels {
			t.Run(iso.name+"/"+lv.name, func(t *testing.T) { level(t, iso.keys, lv.name, lv.has, all) })
		}
	}
}

type check struct {
	what string
	ok   func(l line) bool
}

// level runs the session at verbosity name and checks that the log has
// each check of all that is in has, and none of the others.
func level(t *testing.T, keys, name string, has, all []check) {
	tok := harness.NewToken(t, "audited", pin, "Qx7-so-0815")
	path := filepath.Join(t.TempDir(), "audit.log")
	b := harness.StartConfigBroker(t, config(tok, path, name, keys), nil)
	session(t, b)
	time.Sleep(200 * time.Millisecond) // the last connection's disconnect
	lines := readLog(t, path)
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), pin) || strings.Contains(string(data), wrongPIN) {
		t.Fatalf("a PIN is in the audit log")
	}
	if name == "none" && len(lines) != 0 {
		t.Fatalf("verbosity none logged %d lines", len(lines))
	}
	for _, c := range all {
		want := false
		for _, h := range has {
			if h.what == c.what {
				want = true
			}
		}
		got := false
		for _, l := range lines {
			if c.ok(l) {
				got = true
				break
			}
		}
		if got != want {
			t.Errorf("%s: %s logged %v, want %v", name, c.what, got, want)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("audit log:\n%s", harness.Tail(string(data), 30))
	}
}

// SIGHUP reopens the audit log: after logrotate moved it, new lines go to
// a new file at the configured path.
func TestReopen(t *testing.T) {
	harness.Require(t, "pkcs11-tool")
	for _, iso := range isolations {
		t.Run(iso.name, func(t *testing.T) { reopen(t, iso.keys) })
	}
}

func reopen(t *testing.T, keys string) {
	tok := harness.NewToken(t, "audited", pin, "Qx7-so-0815")
	path := filepath.Join(t.TempDir(), "audit.log")
	cfg := config(tok, path, "quiet", keys)
	b := harness.StartConfigBroker(t, cfg, nil)
	env := []string{"GOP11_BROKER=unix://" + b.Sock}
	harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--slot", "1", "--login", "--pin", pin, "--list-objects")
	time.Sleep(200 * time.Millisecond)
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	before := len(readLog(t, rotated))
	b.Reload(cfg)
	harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--slot", "1", "--login", "--pin", pin, "--list-objects")
	time.Sleep(200 * time.Millisecond)
	if n := len(readLog(t, rotated)); n != before {
		t.Errorf("the rotated file got %d more lines after SIGHUP", n-before)
	}
	lines := readLog(t, path)
	found := false
	for _, l := range lines {
		found = found || l.is("login", "C_Login")
	}
	if before == 0 || !found {
		t.Errorf("before the rotation %d lines; after it the new file has no login line: %v", before, lines)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new audit log: %v, want mode 0600", err)
	}
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var s []string
		for _, e := range x {
			s = append(s, asString(e))
		}
		return strings.Join(s, ",")
	}
	return strconv.Quote("")
}

// The client module's own log_verbosity (client.toml): the same levels,
// in the module's log file, never a PIN.
func TestClientVerbosity(t *testing.T) {
	harness.Require(t, "pkcs11-tool")
	tok := harness.NewToken(t, "audited", pin, "Qx7-so-0815")
	b := harness.StartConfigBroker(t, config(tok, "-", "none", ""), nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("audited data, 32 bytes of input!"), 0o600)
	if _, stderr, code := harness.Run(t, []string{"GOP11_BROKER=unix://" + b.Sock}, "pkcs11-tool", "--module", harness.Module(), "--slot", "1",
		"--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "audit-key", "--id", "0a"); code != 0 {
		t.Fatalf("keypairgen: %s", stderr)
	}
	for _, tc := range []struct {
		level                 string
		signInit, find, wrong bool
	}{
		{"none", false, false, false},
		{"key_only", true, false, false},
		{"quiet", true, false, true},
		{"info", true, true, true},
	} {
		t.Run(tc.level, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "module.log")
			conf := filepath.Join(t.TempDir(), "client.toml")
			os.WriteFile(conf, []byte("broker = \"unix://"+b.Sock+"\"\nlog = \""+logPath+"\"\nlog_verbosity = \""+tc.level+"\"\n"), 0o600)
			env := []string{"GOP11_CONFIG=" + conf}
			harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--slot", "1", "--login", "--pin", pin,
				"--sign", "--mechanism", "ECDSA", "--id", "0a", "--input-file", in, "--output-file", filepath.Join(dir, "sig"))
			harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--slot", "1", "--login", "--pin", wrongPIN, "--list-objects")
			lines := readLog(t, logPath)
			var signInit, find, wrong bool
			for _, l := range lines {
				signInit = signInit || (l["call"] == "C_SignInit" && l["mechanism"] == "CKM_ECDSA")
				find = find || l["call"] == "C_FindObjectsInit"
				wrong = wrong || (l["call"] == "C_Login" && l["rv"] == "CKR_PIN_INCORRECT")
			}
			if signInit != tc.signInit || find != tc.find || wrong != tc.wrong {
				t.Errorf("log_verbosity %s: C_SignInit %v (want %v), C_FindObjectsInit %v (want %v), the wrong PIN %v (want %v)",
					tc.level, signInit, tc.signInit, find, tc.find, wrong, tc.wrong)
			}
			data, _ := os.ReadFile(logPath)
			if strings.Contains(string(data), pin) || strings.Contains(string(data), wrongPIN) {
				t.Errorf("a PIN is in the module's log")
			}
		})
	}
}
