// Package cli tests the gop11 command against a running config-mode
// broker: gop11 status and gop11 slots, field by field, their --json, who
// may ask, and the exit codes.
package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

const pin = "Qx7-cli-4711"

func gop11() string { return filepath.Join(harness.Root(), "build", "gop11") }

func TestStatusAndSlots(t *testing.T) {
	harness.RequireBuild(t)
	a := harness.NewToken(t, "cli-a", pin, "Qx7-so-0815")
	b := harness.NewToken(t, "cli-b", pin, "Qx7-so-0815")
	br := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]
socket_mode = "0666"`+
		harness.ModuleTOML("soft-a", harness.SoftHSM, "process", "", map[string]string{"SOFTHSM2_CONF": a.Conf})+
		harness.ModuleTOML("soft-b", harness.SoftHSM, "shared", "", map[string]string{"SOFTHSM2_CONF": b.Conf})+
		harness.TokenTOML("soft-a", "pkcs11:token=cli-a", 1)+harness.TokenTOML("soft-b", "pkcs11:token=cli-b", 2), nil)
	ep := "unix://" + br.Sock
	run := func(args ...string) (string, int) {
		out, stderr, code := harness.Run(t, nil, gop11(), args...)
		return out + stderr, code
	}

	out, code := run("status", "--broker", ep)
	if code != 0 {
		t.Fatalf("gop11 status: exit %d\n%s", code, out)
	}
	for _, re := range []string{
		`(?m)^broker\s+\S+, up \d+s, 1 connections \(this one included\)$`,
		`(?m)^listen\s+` + regexp.QuoteMeta(ep) + `$`,
		`(?m)^\d+\s+uid=0\s+\d+s$`,
		`(?m)^soft-a\s+process\s+-\s+0\s+` + regexp.QuoteMeta(harness.SoftHSM) + `$`,
		`(?m)^soft-b\s+shared\s+\d+\s+0\s+` + regexp.QuoteMeta(harness.SoftHSM) + `$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("gop11 status lacks %s:\n%s", re, out)
		}
	}

	out, code = run("slots", "--broker", ep)
	if code != 0 {
		t.Fatalf("gop11 slots: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		slot   int
		tok    *harness.Token
		module string
	}{{1, a, "soft-a"}, {2, b, "soft-b"}} {
		re := `(?m)^` + strconv.Itoa(tc.slot) + `\s+` + tc.tok.Label + `\s+` + tc.tok.Serial + `\s+` + tc.module + `\s+\d+$`
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("gop11 slots lacks slot %d (%s):\n%s", tc.slot, re, out)
		}
	}

	out, code = run("slots", "--broker", ep, "--json")
	var slots []struct {
		Slot   uint64 `json:"slot"`
		Label  string `json:"label"`
		Serial string `json:"serial"`
		Module string `json:"module"`
	}
	if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &slots) != nil || len(slots) != 2 ||
		slots[0].Label != "cli-a" || slots[1].Serial != b.Serial || slots[1].Module != "soft-b" {
		t.Errorf("gop11 slots --json: exit %d, %+v\n%s", code, slots, out)
	}

	// Another user reaches the socket (mode 0666) but not the admin
	// requests.
	harness.Require(t, "setpriv")
	o, stderr, code := harness.Run(t, nil, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", gop11(), "status", "--broker", ep)
	if code != 1 || !strings.Contains(stderr, "the broker refused") {
		t.Errorf("gop11 status as nobody: exit %d, want 1 and a refusal\n%s%s", code, o, stderr)
	}
	br.WaitLog(`"message":"admin request refused"`, 5e9)

	if out, code = run("status", "--broker", "unix://"+filepath.Join(t.TempDir(), "none.sock")); code != 3 {
		t.Errorf("gop11 status with no broker: exit %d, want 3\n%s", code, out)
	}
	if out, code = run("status", "extra"); code != 2 {
		t.Errorf("gop11 status with a stray argument: exit %d, want 2\n%s", code, out)
	}
}

// gop11 reload applies an edited broker.toml (a new slot appears) and
// keeps the running config when the file is broken, saying why; a
// [[client]] with admin = true may ask as another user; gop11
// check-config checks a file.
func TestReloadAndAdminClient(t *testing.T) {
	harness.RequireBuild(t)
	harness.Require(t, "setpriv")
	a := harness.NewToken(t, "cli-a", pin, "Qx7-so-0815")
	b := harness.NewToken(t, "cli-b", pin, "Qx7-so-0815")
	base := `listen = ["unix://%SOCK%"]
socket_mode = "0666"` +
		harness.ModuleTOML("soft-a", harness.SoftHSM, "shared", "", map[string]string{"SOFTHSM2_CONF": a.Conf}) +
		harness.ModuleTOML("soft-b", harness.SoftHSM, "shared", "", map[string]string{"SOFTHSM2_CONF": b.Conf}) +
		harness.TokenTOML("soft-a", "pkcs11:token=cli-a", 1)
	clients := `
[[client]]
name = "root"
uids = [0]
[[client]]
name = "operator"
uids = [65534]
operations = ["find"]
admin = true
`
	br := harness.StartConfigBroker(t, base+clients, nil)
	ep := "unix://" + br.Sock
	run := func(args ...string) (string, int) {
		out, stderr, code := harness.Run(t, nil, gop11(), args...)
		return out + stderr, code
	}

	if out, code := run("check-config", br.CfgPath); code != 0 || !strings.Contains(out, ": OK: 1 listeners, 2 modules, 1 tokens, 0 groups, 2 clients") {
		t.Errorf("gop11 check-config: exit %d\n%s", code, out)
	}
	br.Write(base + harness.TokenTOML("soft-b", "pkcs11:token=cli-b", 2) + clients)
	if out, code := run("reload", "--broker", ep); code != 0 || !strings.Contains(out, "reloaded") {
		t.Fatalf("gop11 reload: exit %d\n%s", code, out)
	}
	if out, code := run("slots", "--broker", ep); code != 0 || !regexp.MustCompile(`(?m)^2\s+cli-b\s`).MatchString(out) {
		t.Errorf("after gop11 reload, slot 2 is not listed: exit %d\n%s", code, out)
	}
	br.Write(base + harness.TokenTOML("nosuch", "pkcs11:token=x", 3) + clients)
	if out, code := run("check-config", br.CfgPath); code != 1 || !strings.Contains(out, `no [[module]] is named "nosuch"`) {
		t.Errorf("gop11 check-config of a broken file: exit %d\n%s", code, out)
	}
	if out, code := run("reload", "--broker", ep); code != 1 || !strings.Contains(out, `the broker keeps its running config`) || !strings.Contains(out, `no [[module]] is named "nosuch"`) {
		t.Errorf("gop11 reload of a broken file: exit %d\n%s", code, out)
	}
	if out, code := run("slots", "--broker", ep); code != 0 || !regexp.MustCompile(`(?m)^2\s+cli-b\s`).MatchString(out) {
		t.Errorf("after a failed reload, slot 2 is gone: exit %d\n%s", code, out)
	}
	// nobody's [[client]] has admin = true.
	o, stderr, code := harness.Run(t, nil, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", gop11(), "status", "--broker", ep)
	if code != 0 || !strings.Contains(o, "soft-b") {
		t.Errorf("gop11 status as a [[client]] with admin = true: exit %d\n%s%s", code, o, stderr)
	}
}

// With handoff the module's worker answers the admin requests of the
// connections handed to it: gop11 status names it and its restarts,
// gop11 slots lists what it serves, and gop11 reload reloads the broker,
// which sends the worker the new config (or keeps both on the old one).
func TestHandoffAdmin(t *testing.T) {
	harness.RequireBuild(t)
	a := harness.NewToken(t, "cli-a", pin, "Qx7-so-0815")
	other := a.AddToken(t, "cli-other", pin, "Qx7-so-0815")
	base := `listen = ["unix://%SOCK%"]` +
		harness.ModuleTOML("soft", harness.SoftHSM, "shared", "handoff = true", map[string]string{"SOFTHSM2_CONF": a.Conf}) +
		harness.TokenTOML("soft", "pkcs11:token=cli-a", 1)
	br := harness.StartConfigBroker(t, base, nil)
	ep := "unix://" + br.Sock
	run := func(args ...string) (string, int) {
		out, stderr, code := harness.Run(t, nil, gop11(), args...)
		return out + stderr, code
	}
	status := func(restarts int) {
		t.Helper()
		out, code := run("status", "--broker", ep)
		re := `(?m)^soft\s+shared \(handoff\)\s+\d+\s+` + strconv.Itoa(restarts) + `\s+` + regexp.QuoteMeta(harness.SoftHSM) + `$`
		if code != 0 || !regexp.MustCompile(re).MatchString(out) || !regexp.MustCompile(`(?m)^broker\s+\S+, up \d+s, 1 connections`).MatchString(out) {
			t.Errorf("gop11 status: exit %d, want %s\n%s", code, re, out)
		}
	}
	status(0)
	br.Write(base + harness.TokenTOML("soft", "pkcs11:token=cli-other", 2))
	if out, code := run("reload", "--broker", ep); code != 0 || !strings.Contains(out, "reloaded") {
		t.Fatalf("gop11 reload: exit %d\n%s", code, out)
	}
	if out, code := run("slots", "--broker", ep); code != 0 || !regexp.MustCompile(`(?m)^2\s+cli-other\s+`+other.Serial+`\s+soft\s`).MatchString(out) {
		t.Errorf("after gop11 reload, the worker does not list slot 2: exit %d\n%s", code, out)
	}
	br.Write(base + harness.TokenTOML("nosuch", "pkcs11:token=x", 3))
	if out, code := run("reload", "--broker", ep); code != 1 || !strings.Contains(out, `no [[module]] is named "nosuch"`) {
		t.Errorf("gop11 reload of a broken file: exit %d\n%s", code, out)
	}
	if out, code := run("slots", "--broker", ep); code != 0 || !regexp.MustCompile(`(?m)^2\s+cli-other\s`).MatchString(out) {
		t.Errorf("after a failed reload, slot 2 is gone: exit %d\n%s", code, out)
	}
	pids := regexp.MustCompile(`"worker":(\d+)[^\n]*"message":"shared worker started"`).FindAllStringSubmatch(br.Log(), -1)
	pid, _ := strconv.Atoi(pids[len(pids)-1][1])
	syscall.Kill(pid, syscall.SIGKILL)
	br.WaitLog(`"why":"crashed: killed"`, 5e9)
	status(1)
}
