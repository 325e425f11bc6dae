// Package ha tests [[group]]s: two SoftHSM2 tokens holding the same keys
// (one token, its directory copied) behind one broker slot, driven by a
// threaded C application and pkcs11-tool while a member's worker is
// killed.
package ha

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

const (
	userPIN   = "Qx7-group-pin-4711"
	soPIN     = "Qx7-group-so-0815"
	groupSlot = 10
)

// members makes the token "signer" with an EC and an RSA key pair and a
// replication key, and a copy of it: the two members of a group.
func members(t *testing.T) (a, b *harness.Token) {
	t.Helper()
	harness.Require(t, "pkcs11-tool")
	a = harness.NewToken(t, "signer", userPIN, soPIN)
	for _, k := range [][]string{{"EC:prime256v1", "ec", "01"}, {"rsa:2048", "rsa", "02"}} {
		_, stderr, code := harness.Run(t, a.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "signer",
			"--login", "--pin", userPIN, "--keypairgen", "--key-type", k[0], "--label", k[1], "--id", k[2])
		if code != 0 {
			t.Fatalf("pkcs11-tool --keypairgen %s: exit %d\n%s", k[0], code, stderr)
		}
	}
	// The replication key for new_keys = "replicate": an AES key on every
	// member, as an operator would install it.
	_, stderr, code := harness.Run(t, a.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "signer",
		"--login", "--pin", userPIN, "--keygen", "--key-type", "AES:32", "--label", "gop11-replication", "--usage-wrap")
	if code != 0 {
		t.Fatalf("pkcs11-tool --keygen AES: exit %d\n%s", code, stderr)
	}
	return a, a.Clone(t)
}

// groupConfig is a broker config serving a and b as the group "signers"
// on slot 10; extra holds more [[group]] keys.
func groupConfig(a, b *harness.Token, iso, extra string) string {
	return groupOf(harness.ModuleTOML("softhsm-a", harness.SoftHSM, iso, "", map[string]string{"SOFTHSM2_CONF": a.Conf}),
		harness.ModuleTOML("softhsm-b", harness.SoftHSM, iso, "", map[string]string{"SOFTHSM2_CONF": b.Conf}), extra)
}

// groupOf is that config with the two members' [[module]]s given: they
// must be named softhsm-a and softhsm-b.
func groupOf(moduleA, moduleB, extra string) string {
	return `listen = ["unix://%SOCK%"]` + moduleA + moduleB + `
[[token]]
name = "a"
module = "softhsm-a"
uri = "pkcs11:token=signer"

[[token]]
name = "b"
module = "softhsm-b"
uri = "pkcs11:token=signer"

[[group]]
name = "signers"
slot = 10
members = ["a", "b"]
` + extra
}

// signload builds tests/ha/cclient/signload.c.
func signload(t *testing.T) string {
	t.Helper()
	harness.Require(t, "gcc")
	bin := filepath.Join(t.TempDir(), "signload")
	r := harness.RunCmd(t, harness.Command{Name: "gcc", Args: []string{"-std=c99", "-Wall", "-Wextra", "-Werror",
		"-I", filepath.Join(harness.Root(), "include"), "-o", bin, filepath.Join("cclient", "signload.c"), "-ldl", "-lpthread"}})
	if r.Code != 0 {
		t.Fatalf("gcc signload.c: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	return bin
}

func clientEnv(b *harness.ConfigBroker) []string {
	return []string{"GOP11_BROKER=unix://" + b.Sock, "SIGNLOAD_PIN=" + userPIN}
}

// workerOf is the pid of the last worker started for module in isolation
// "shared", from the broker's log.
func workerOf(t *testing.T, b *harness.ConfigBroker, module string) int {
	t.Helper()
	m := regexp.MustCompile(`"module":"`+module+`","worker":(\d+)[^\n]*"message":"worker started"`).FindAllStringSubmatch(b.Log(), -1)
	if len(m) == 0 {
		t.Fatalf("no worker of %s in the broker's log", module)
	}
	pid, _ := strconv.Atoi(m[len(m)-1][1])
	return pid
}

// memberCalls reads the calls each member answered from the broker's
// last "group: a connection left" line.
func memberCalls(t *testing.T, b *harness.ConfigBroker) map[string]uint64 {
	t.Helper()
	var last string
	for _, l := range strings.Split(b.Log(), "\n") {
		if strings.Contains(l, `"message":"group: a connection left"`) {
			last = l
		}
	}
	var e struct {
		Members []struct {
			Name  string `json:"name"`
			Calls uint64 `json:"calls"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(last), &e); err != nil {
		t.Fatalf("no group line with member calls in the broker's log (%v)", err)
	}
	out := map[string]uint64{}
	for _, m := range e.Members {
		out[m.Name] = m.Calls
	}
	return out
}

// TestFailover: four threads sign and verify with ECDSA and RSA for 10 s
// through a two-member group while one member's worker is killed with
// SIGKILL; not one call fails, and the member serves again afterwards.
func TestFailover(t *testing.T) {
	for _, iso := range []string{"shared", "process"} {
		t.Run(iso, func(t *testing.T) { failover(t, iso) })
	}
}

func failover(t *testing.T, iso string) {
	a, bt := members(t)
	b := harness.StartConfigBroker(t, groupConfig(a, bt, iso, ""), nil)
	var killed int
	underLoad(t, b, func() {
		// In "process" isolation the client's own worker for softhsm-a is
		// the last one started (probes come first).
		killed = workerOf(t, b, "softhsm-a")
		syscall.Kill(killed, syscall.SIGKILL)
	})
	// Member a serves again: a worker of its module started after the
	// kill signs (not necessarily the last one started: a health probe's
	// worker may come later).
	var after []int
	for _, m := range regexp.MustCompile(`"module":"softhsm-a","worker":(\d+)[^\n]*"message":"worker started"`).FindAllStringSubmatch(b.Log(), -1) {
		pid, _ := strconv.Atoi(m[1])
		after = append(after, pid)
	}
	if i := slices.Index(after, killed); i >= 0 {
		after = after[i+1:]
	}
	if !slices.ContainsFunc(after, func(pid int) bool {
		return strings.Contains(b.Log(), fmt.Sprintf(`"worker":%d,"module":"softhsm-a","call":"C_Sign"`, pid))
	}) {
		t.Errorf("member a served no C_Sign after its worker %d was killed (workers started since: %v)\n%s", killed, after, grepLines(b.Log(), `"member":"a"`))
	}
}

// underLoad runs signload's four threads for 10 s through b's group with
// fault made 3 s in: every signature must be made and verified with no
// call failed, and every member must have taken calls.
func underLoad(t *testing.T, b *harness.ConfigBroker, fault func()) {
	t.Helper()
	cmd := exec.Command(signload(t), harness.Module(), strconv.Itoa(groupSlot), "sign", "10", "4")
	cmd.Env = append(os.Environ(), clientEnv(b)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	fault()
	err := cmd.Wait()
	t.Logf("signload: %s; operations moved to another member: %d", strings.TrimSpace(out.String()),
		strings.Count(b.Log(), `"message":"operation moved to another group member"`))
	if err != nil {
		t.Fatalf("signload through the group failed: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`signed=(\d+) verified=(\d+) failed=0 `).FindStringSubmatch(out.String())
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("want every signature made and verified, no call failed: %s", out.String())
	}
	b.WaitLog(`"message":"group: a connection left"`, 5*time.Second)
	if strings.Contains(b.Log(), userPIN) {
		t.Errorf("the PIN is in the broker's log")
	}
	for name, n := range memberCalls(t, b) {
		if n == 0 {
			t.Errorf("member %s took no calls", name)
		}
	}
}

// TestReplayLimit: a multi-part digest within replay_limit moves to the
// other member when its member dies, and gives the right digest; one past
// the limit fails with CKR_DEVICE_ERROR, and the session digests again.
func TestReplayLimit(t *testing.T) {
	a, bt := members(t)
	for _, tc := range []struct {
		bytes int
		want  string
	}{
		{32768, "update=0x0 final=0x0 again=0x0"},
		{200000, "update=0x30 final=0x91 again=0x0"}, // CKR_DEVICE_ERROR, CKR_OPERATION_NOT_INITIALIZED
	} {
		t.Run(strconv.Itoa(tc.bytes), func(t *testing.T) {
			b := harness.StartConfigBroker(t, groupConfig(a, bt, "shared", "replay_limit = 65536\n"), nil)
			cmd := exec.Command(signload(t), harness.Module(), strconv.Itoa(groupSlot), "digest", strconv.Itoa(tc.bytes))
			cmd.Env = append(os.Environ(), clientEnv(b)...)
			cmd.Stderr = os.Stderr
			in, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stdout)
			if l, _ := r.ReadString('\n'); l != "updated\n" {
				t.Fatalf("signload: %q, want updated", l)
			}
			// One client, no load: the operation runs on a, the first member.
			syscall.Kill(workerOf(t, b, "softhsm-a"), syscall.SIGKILL)
			b.WaitLog(`"why":"crashed: killed"`, 5*time.Second)
			io.WriteString(in, "go\n")
			rest, _ := io.ReadAll(r)
			cmd.Wait()
			got := strings.TrimSpace(string(rest))
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("after member a died: %s, want %s", got, tc.want)
			}
			if tc.bytes < 65536 {
				sum := sha256.Sum256(make([]byte, tc.bytes+16))
				if !strings.Contains(got, "digest="+hex.EncodeToString(sum[:])) {
					t.Errorf("replayed digest: %s, want digest=%x", got, sum)
				}
			} else if !strings.Contains(b.Log(), "its input is past replay_limit") {
				t.Errorf("no log line says why the digest failed:\n%s", harness.Tail(b.Log(), 20))
			}
		})
	}
}

// TestTools: pkcs11-tool sees the group as one token with each key once,
// signs through it, and new_keys decides what a key generated through
// the group becomes.
func TestTools(t *testing.T) {
	a, bt := members(t)
	for _, mode := range []string{"refuse", "pin"} {
		t.Run(mode, func(t *testing.T) {
			b := harness.StartConfigBroker(t, groupConfig(a, bt, "shared", fmt.Sprintf("new_keys = %q\n", mode)), nil)
			env := clientEnv(b)
			p11 := func(args ...string) (string, int) {
				out, stderr, code := harness.Run(t, env, "pkcs11-tool", append([]string{"--module", harness.Module(), "--slot", strconv.Itoa(groupSlot)}, args...)...)
				return out + stderr, code
			}
			if out, code := p11("--list-token-slots"); code != 0 || !regexp.MustCompile(`serial num\s*:\s*signers\n`).MatchString(out) {
				t.Errorf("pkcs11-tool -L: exit %d, want the group's name as its serial number:\n%s", code, out)
			}
			out, code := p11("--login", "--pin", userPIN, "--list-objects", "--type", "privkey")
			if code != 0 || strings.Count(out, "Private Key Object") != 2 {
				t.Fatalf("pkcs11-tool -O through the group: exit %d, want the two private keys once each:\n%s", code, out)
			}
			// pkcs11-tool 0.23 picks the key to sign with by ID only (with
			// --label it takes the first private key, SoftHSM2 direct too).
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			os.WriteFile(data, []byte("0123456789abcdef0123456789abcdef"), 0o600)
			if out, code := p11("--login", "--pin", userPIN, "--sign", "--mechanism", "ECDSA", "--id", "01",
				"--input-file", data, "--output-file", filepath.Join(dir, "sig")); code != 0 {
				t.Fatalf("pkcs11-tool --sign through the group: exit %d\n%s", code, out)
			}
			out, code = p11("--login", "--pin", userPIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "new-"+mode)
			onA := countOn(t, a, "new-"+mode)
			onB := countOn(t, bt, "new-"+mode)
			switch mode {
			case "refuse":
				if code == 0 || onA+onB != 0 {
					t.Errorf("key generation with new_keys = refuse: exit %d, %d keys on a, %d on b; want a failure and none", code, onA, onB)
				}
				if !strings.Contains(b.Log(), `the group's new_keys is \"refuse\"`) {
					t.Errorf("no log line says why key generation was refused")
				}
			case "pin":
				if code != 0 || onA+onB != 2 || onA*onB != 0 {
					t.Errorf("key generation with new_keys = pin: exit %d, %d objects on a, %d on b; want the pair on one member:\n%s", code, onA, onB, out)
				}
			}
		})
	}
}

// countOn counts the objects labelled label on tok, read with SoftHSM2
// directly.
func countOn(t *testing.T, tok *harness.Token, label string) int {
	t.Helper()
	out, stderr, code := harness.Run(t, tok.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "signer",
		"--login", "--pin", userPIN, "--list-objects")
	if code != 0 {
		t.Fatalf("pkcs11-tool -O on a member: exit %d\n%s", code, stderr)
	}
	return strings.Count(out, "label:      "+label+"\n")
}

// TestRemote: the group's second member is a [[remote]], the same token
// served by a second broker over mutual TLS (certificates made here).
// Four threads sign and verify for 10 s while the second broker is killed
// with SIGKILL and then started again: not one call fails, and the remote
// member takes calls again once it is back.
func TestRemote(t *testing.T) {
	a, bt := members(t)
	ca := harness.NewCA(t, "gop11 ha CA")
	server := ca.ServerCert()
	client := ca.Issue("broker-1.example.org", harness.CertOptions{DNS: []string{"broker-1.example.org"}})
	port := harness.FreePort(t)
	remoteCfg := fmt.Sprintf(`listen = ["unix://%%SOCK%%", "tls://127.0.0.1:%d"]
[tls]
cert = %q
key = %q
client_ca = %q
`, port, server.CertPath, server.KeyPath, ca.CertPath) +
		harness.ModuleTOML("softhsm-b", harness.SoftHSM, "shared", "", map[string]string{"SOFTHSM2_CONF": bt.Conf}) + `
[[token]]
module = "softhsm-b"
uri = "pkcs11:token=signer"
slot = 4

[[client]]
name = "broker-1"
cert_names = ["broker-1.example.org"]
`
	b2 := harness.StartConfigBroker(t, remoteCfg, nil)
	b := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
		harness.ModuleTOML("softhsm-a", harness.SoftHSM, "shared", "", map[string]string{"SOFTHSM2_CONF": a.Conf})+fmt.Sprintf(`
[[token]]
name = "a"
module = "softhsm-a"
uri = "pkcs11:token=signer"

[[remote]]
name = "c"
endpoint = "tls://127.0.0.1:%d"
uri = "pkcs11:token=signer"
[remote.tls]
ca = %q
cert = %q
key = %q

[[group]]
name = "signers"
slot = 10
members = ["a", "c"]
`, port, ca.CertPath, client.CertPath, client.KeyPath), nil)

	var b3 *harness.ConfigBroker
	underLoad(t, b, func() {
		if !strings.Contains(b2.Log(), `"identity":"cert=broker-1.example.org`) {
			t.Errorf("the remote broker's log does not name broker-1's certificate:\n%s", harness.Tail(b2.Log(), 20))
		}
		b2.Signal(syscall.SIGKILL)
		b.WaitLog(`"member":"c","error":`, 5*time.Second)
		// The same broker again, on the same port: the member rejoins
		// once its health check passes.
		b3 = harness.StartConfigBroker(t, remoteCfg, nil)
		b.WaitLog(`"member":"c","failed_checks"`, 5*time.Second)
	})
	if !strings.Contains(b3.Log(), `"call":"C_Sign"`) {
		t.Errorf("the restarted remote broker served no C_Sign:\n%s", harness.Tail(b3.Log(), 8))
	}
}

func grepLines(log, s string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestReplicate: with new_keys = "replicate", a key pair generated through
// the group with pkcs11-tool is on both members before the call returns:
// each member alone signs with it (SoftHSM2 directly), and a signature
// made on one verifies with the public key on the other. A key that may
// not be wrapped stays on the member that made it, and the log says why.
func TestReplicate(t *testing.T) {
	a, bt := members(t)
	b := harness.StartConfigBroker(t, groupConfig(a, bt, "shared", "new_keys = \"replicate\"\nreplication_key = \"label:gop11-replication\"\n"), nil)
	p11 := func(args ...string) (string, int) {
		out, stderr, code := harness.Run(t, clientEnv(b), "pkcs11-tool", append([]string{"--module", harness.Module(), "--slot", strconv.Itoa(groupSlot),
			"--login", "--pin", userPIN}, args...)...)
		return out + stderr, code
	}
	if out, code := p11("--keypairgen", "--key-type", "EC:prime256v1", "--label", "rep", "--id", "0a", "--usage-sign", "--extractable", "--sensitive"); code != 0 {
		t.Fatalf("pkcs11-tool --keypairgen through the group: exit %d\n%s", code, out)
	}
	if onA, onB := countOn(t, a, "rep"), countOn(t, bt, "rep"); onA != 2 || onB != 2 {
		t.Fatalf("the new key pair: %d objects on a, %d on b; want both keys on each member\n%s", onA, onB, harness.Tail(b.Log(), 10))
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.WriteFile(data, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	direct := func(tok *harness.Token, args ...string) {
		t.Helper()
		_, stderr, code := harness.Run(t, tok.Env(), "pkcs11-tool", append([]string{"--module", harness.SoftHSM, "--token-label", "signer",
			"--login", "--pin", userPIN, "--id", "0a", "--mechanism", "ECDSA", "--input-file", data}, args...)...)
		if code != 0 {
			t.Fatalf("pkcs11-tool %v on a member alone: exit %d\n%s", args, code, stderr)
		}
	}
	for _, tc := range []struct {
		name          string
		signer, other *harness.Token
	}{{"a signs, b verifies", a, bt}, {"b signs, a verifies", bt, a}} {
		sig := filepath.Join(dir, "sig")
		direct(tc.signer, "--sign", "--output-file", sig)
		direct(tc.other, "--verify", "--signature-file", sig)
	}

	if out, code := p11("--keypairgen", "--key-type", "EC:prime256v1", "--label", "kept", "--id", "0b", "--usage-sign"); code != 0 {
		t.Fatalf("pkcs11-tool --keypairgen of a key that may not be wrapped: exit %d\n%s", code, out)
	}
	if onA, onB := countOn(t, a, "kept"), countOn(t, bt, "kept"); onA+onB != 2 || onA*onB != 0 {
		t.Errorf("a key that may not be wrapped: %d objects on a, %d on b; want the pair on one member", onA, onB)
	}
	if !strings.Contains(b.Log(), "cannot be wrapped under the replication key") {
		t.Errorf("no log line says why the key was not replicated:\n%s", harness.Tail(b.Log(), 10))
	}
}

// TestMemberFaults: member a's module crashes (SIGABRT) or hangs past its
// call_timeout in the middle of a C_Sign (tests/faultmod, triggered by
// the data); the group replays the operation on member b, and
// pkcs11-tool gets a signature that verifies, with exit 0.
func TestMemberFaults(t *testing.T) {
	a, bt := members(t)
	fault := harness.FaultModule(t)
	for _, tc := range []struct{ name, iso, data string }{
		{"crash shared", "shared", "gop11-crash"},
		{"crash process", "process", "gop11-crash"},
		{"hang shared", "shared", "gop11-hang"},
		{"hang process", "process", "gop11-hang"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Member a is the first listed: with one client and no load,
			// calls go to it.
			cfg := groupOf(harness.ModuleTOML("softhsm-a", fault, tc.iso, `call_timeout = "1s"`, map[string]string{"SOFTHSM2_CONF": a.Conf}),
				harness.ModuleTOML("softhsm-b", harness.SoftHSM, tc.iso, "", map[string]string{"SOFTHSM2_CONF": bt.Conf}), "")
			b := harness.StartConfigBroker(t, cfg, nil)
			dir := t.TempDir()
			data, sig := filepath.Join(dir, "data"), filepath.Join(dir, "sig")
			os.WriteFile(data, []byte(tc.data+"-0123456789abcdef"), 0o600)
			p11 := func(args ...string) (string, int) {
				out, stderr, code := harness.Run(t, clientEnv(b), "pkcs11-tool", append([]string{"--module", harness.Module(), "--slot", strconv.Itoa(groupSlot),
					"--login", "--pin", userPIN, "--id", "01", "--mechanism", "ECDSA", "--input-file", data}, args...)...)
				return out + stderr, code
			}
			if out, code := p11("--sign", "--output-file", sig); code != 0 {
				t.Fatalf("pkcs11-tool --sign through the group while member a fails: exit %d\n%s\n%s", code, out, harness.Tail(b.Log(), 15))
			}
			if !strings.Contains(b.Log(), `"message":"operation moved to another group member"`) {
				t.Errorf("the signature was not made on member b after a failed:\n%s", grepLines(b.Log(), `"group":"signers"`))
			}
			if out, code := p11("--verify", "--signature-file", sig); code != 0 {
				t.Errorf("pkcs11-tool --verify through the group: exit %d\n%s", code, out)
			}
		})
	}
}

// TestBrokerFailover: two brokers, each in front of a copy of the token on
// slot 1; the client lists both (GOP11_BROKER="unix://1,unix://2"). Four
// threads sign and verify for 10 s while the first broker is killed with
// SIGKILL 3 s in: the client restores its sessions, login and operations
// on the second, and not one call fails.
func TestBrokerFailover(t *testing.T) {
	a, bt := members(t)
	brokerFor := func(tok *harness.Token) *harness.ConfigBroker {
		return harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
			harness.ModuleTOML("softhsm", harness.SoftHSM, "shared", "", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
			harness.TokenTOML("softhsm", "pkcs11:token=signer", 1), nil)
	}
	b1, b2 := brokerFor(a), brokerFor(bt)
	modLog := filepath.Join(t.TempDir(), "module.log")
	cmd := exec.Command(signload(t), harness.Module(), "1", "sign", "10", "4")
	cmd.Env = append(os.Environ(), "GOP11_BROKER=unix://"+b1.Sock+",unix://"+b2.Sock, "SIGNLOAD_PIN="+userPIN, "GOP11_LOG="+modLog)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	b1.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	log, _ := os.ReadFile(modLog)
	t.Logf("signload: %s; sessions restored on the second broker: %d", strings.TrimSpace(out.String()),
		strings.Count(string(log), `"message":"session restored on this broker"`))
	if err != nil {
		t.Fatalf("signload failed while its broker was killed: %v\n%s\n%s", err, out.String(), harness.Tail(string(log), 10))
	}
	m := regexp.MustCompile(`signed=(\d+) verified=(\d+) failed=0 `).FindStringSubmatch(out.String())
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("want every signature made and verified, no call failed: %s\n%s", out.String(), harness.Tail(string(log), 10))
	}
	if !strings.Contains(b2.Log(), `"call":"C_Sign"`) {
		t.Errorf("the second broker served no C_Sign")
	}
	if strings.Contains(string(log), userPIN) || strings.Contains(b2.Log(), userPIN) {
		t.Errorf("the PIN, kept by the module for the failover, is in a log")
	}
	// gop11 ping goes the same way: the first broker that answers.
	out2, stderr, code := harness.Run(t, []string{"GOP11_BROKER=unix://" + b1.Sock + ",unix://" + b2.Sock},
		filepath.Join(harness.Root(), "build", "gop11"), "ping", "--count", "1")
	if code != 0 || !strings.Contains(out2, "connected to unix://"+b2.Sock) {
		t.Errorf("gop11 ping with the first broker dead: exit %d\n%s%s", code, out2, stderr)
	}
	if !strings.Contains(string(log), `"message":"broker lost: the call goes to the next broker, and sessions are restored there"`) {
		t.Errorf("the module's log does not say the broker was lost:\n%s", harness.Tail(string(log), 10))
	}
}

// TestObjectOnOneMember: a key that only member a holds (made there after
// the copy) is found and used through the group; gop11 status shows the
// group's members and that the key is missing on b.
func TestObjectOnOneMember(t *testing.T) {
	a, bt := members(t)
	if _, stderr, code := harness.Run(t, a.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "signer",
		"--login", "--pin", userPIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "only-a", "--id", "0b"); code != 0 {
		t.Fatalf("keypairgen on a: %s", stderr)
	}
	b := harness.StartConfigBroker(t, groupConfig(a, bt, "shared", ""), nil)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.WriteFile(data, []byte("0123456789abcdef0123456789abcdef"), 0o600)
	// Member b, less busy or not, is asked first in turn: sign a few
	// times so that both are tried.
	for range 3 {
		out, stderr, code := harness.Run(t, clientEnv(b), "pkcs11-tool", "--module", harness.Module(), "--slot", strconv.Itoa(groupSlot),
			"--login", "--pin", userPIN, "--sign", "--mechanism", "ECDSA", "--id", "0b", "--input-file", data, "--output-file", filepath.Join(dir, "sig"))
		if code != 0 {
			t.Fatalf("signing with the key only a holds: exit %d\n%s%s", code, out, stderr)
		}
	}
	out, stderr, code := harness.Run(t, nil, filepath.Join(harness.Root(), "build", "gop11"), "status", "--broker", "unix://"+b.Sock)
	if code != 0 {
		t.Fatalf("gop11 status: exit %d\n%s", code, stderr)
	}
	for _, re := range []string{
		`(?m)^signers\s+10\s+a\s+true\s+\d+\s+\d+$`,
		`(?m)^signers\s+10\s+b\s+true\s+\d+\s+\d+$`,
		`(?m)^signers\s+only-a\s+CKO_PRIVATE_KEY\s+0b\s+b$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("gop11 status lacks %s:\n%s", re, out)
		}
	}
	if !strings.Contains(b.Log(), "object not on this group member: it is used on the others only") {
		t.Errorf("no log line says the key is missing on b")
	}
}
