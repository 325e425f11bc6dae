package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

// Test PINs for the tools suite. The PIN-logging test uses its own,
// distinctive ones.
const (
	toolsPIN   = "1234"
	toolsSOPIN = "5678"
)

// toolsTarget is one way of reaching a token: SoftHSM2 loaded directly, or
// build/libgop11.so talking to a broker that loads SoftHSM2.
type toolsTarget struct {
	name   string          // "direct" or "proxy", for messages
	module string          // what clients load
	env    []string        // what clients need in their environment
	tok    *harness.Token  // the token behind it
	broker *harness.Broker // nil for direct
	dir    string          // scratch directory for this target's output files
}

// file returns the path of name in the target's scratch directory.
func (tg *toolsTarget) file(name string) string { return filepath.Join(tg.dir, name) }

// p11 runs `pkcs11-tool --module M args...` against the target.
func (tg *toolsTarget) p11(t *testing.T, args ...string) harness.Result {
	t.Helper()
	return harness.RunCmd(t, harness.Command{
		Name: "pkcs11-tool",
		Args: append([]string{"--module", tg.module}, args...),
		Env:  tg.env,
	})
}

// p11ok is p11 that fails the test unless pkcs11-tool exits 0.
func (tg *toolsTarget) p11ok(t *testing.T, args ...string) harness.Result {
	t.Helper()
	r := tg.p11(t, args...)
	if r.Code != 0 {
		t.Fatalf("%s: pkcs11-tool %s: exit %d\nstdout:\n%s\nstderr:\n%s",
			tg.name, strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// login returns the pkcs11-tool arguments that log in as the token's user.
func (tg *toolsTarget) login() []string { return []string{"--login", "--pin", tg.tok.PIN} }

// toolsPair is the same token reached two ways. Both sides start from
// byte-identical copies of one SoftHSM2 token (harness.Token.Clone): same
// label, serial, slot ID, objects and key material. Twin tokens rather
// than one shared token, because
//   - a command that changes the token (key generation, object writes) can
//     run on both sides and both sides must end in the same state, and
//   - both sides then print the same slot IDs and serial numbers, and
//     deterministic mechanisms give byte-identical outputs,
//
// so anything that differs after harness.Mask is the proxy's doing.
type toolsPair struct {
	direct, proxy *toolsTarget
	dir           string // shared inputs (data files, certificates, peer keys)
}

// newToolsPair creates a token labelled label with the suite's test PINs, runs
// setup against it directly (to create keys and objects), clones it, and
// starts a broker in front of the clone. setup may be nil.
func newToolsPair(t *testing.T, label string, setup func(t *testing.T, p *toolsPair, tg *toolsTarget)) *toolsPair {
	t.Helper()
	return newToolsPairPINs(t, label, toolsPIN, toolsSOPIN, setup)
}

// newToolsPairPINs is newToolsPair with the token's PINs chosen by the caller.
func newToolsPairPINs(t *testing.T, label, pin, soPIN string, setup func(t *testing.T, p *toolsPair, tg *toolsTarget)) *toolsPair {
	t.Helper()
	harness.Require(t, "pkcs11-tool")
	harness.Require(t, "openssl")
	harness.Require(t, harness.SoftHSM)
	harness.RequireBuild(t)
	tok := harness.NewToken(t, label, pin, soPIN)
	p := &toolsPair{dir: t.TempDir()}
	p.direct = &toolsTarget{name: "direct", module: harness.SoftHSM, env: tok.Env(), tok: tok, dir: t.TempDir()}
	if setup != nil {
		setup(t, p, p.direct)
	}
	twin := tok.Clone(t)
	p.proxy = &toolsTarget{name: "proxy", tok: twin, dir: t.TempDir()}
	var args []string
	if iso := os.Getenv("GOP11_E2E_ISOLATION"); iso != "" {
		args = []string{"--isolation", iso} // make test runs the suite again with "shared"
	}
	b := harness.StartBroker(t, twin, args...)
	p.proxy.module, p.proxy.env, p.proxy.broker = harness.Module(), b.ClientEnv(), b
	return p
}

// targets returns both sides, direct first.
func (p *toolsPair) targets() []*toolsTarget { return []*toolsTarget{p.direct, p.proxy} }

// input writes data to a shared input file and returns its path.
func (p *toolsPair) input(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// other returns the side that tg is not.
func (p *toolsPair) other(tg *toolsTarget) *toolsTarget {
	if tg == p.direct {
		return p.proxy
	}
	return p.direct
}

// bothRun runs cmd(tg) on both sides, direct first, and fails the test
// (not fatally) unless exit codes, standard outputs and standard errors
// are equal after harness.Mask and then norm (nil for none).
func (p *toolsPair) bothRun(t *testing.T, what string, norm func(string) string, cmd func(tg *toolsTarget) harness.Command) (d, x harness.Result) {
	t.Helper()
	d = harness.RunCmd(t, cmd(p.direct))
	x = harness.RunCmd(t, cmd(p.proxy))
	toolsCompare(t, what, d, x, norm)
	return d, x
}

// both is bothRun for `pkcs11-tool --module M args(tg)...`. args receives
// the target so that output files can go to its own scratch directory.
func (p *toolsPair) both(t *testing.T, what string, norm func(string) string, args func(tg *toolsTarget) []string) (d, x harness.Result) {
	t.Helper()
	return p.bothRun(t, what, norm, func(tg *toolsTarget) harness.Command {
		return harness.Command{Name: "pkcs11-tool", Args: append([]string{"--module", tg.module}, args(tg)...), Env: tg.env}
	})
}

// bothOK is both for a command that must succeed: see toolsBothOK.
func (p *toolsPair) bothOK(t *testing.T, what string, norm func(string) string, args func(tg *toolsTarget) []string) (d, x harness.Result) {
	t.Helper()
	d, x = p.both(t, what, norm, args)
	toolsBothOK(t, what, d, x)
	return d, x
}

// toolsBothOK stops the test unless both runs exited 0. A direct failure
// means the step itself is wrong (comparing against it proves nothing); a
// proxy failure has been reported by toolsCompare already, and the steps
// after it would only fail for want of its output.
func toolsBothOK(t *testing.T, what string, d, x harness.Result) {
	t.Helper()
	if d.Code != 0 {
		t.Fatalf("%s: exits %d directly against SoftHSM2\nstdout:\n%s\nstderr:\n%s", what, d.Code, d.Stdout, d.Stderr)
	}
	if x.Code != 0 {
		t.Fatalf("%s: stopping here: it failed through the proxy (exit %d)", what, x.Code)
	}
}

// toolsCompare reports every difference between a direct and a proxied
// run: exit code, then masked stdout and stderr as line diffs.
func toolsCompare(t *testing.T, what string, d, x harness.Result, norm func(string) string) {
	t.Helper()
	if norm == nil {
		norm = func(s string) string { return s }
	}
	if d.Code != x.Code {
		t.Errorf("%s: exit code direct %d, proxy %d\ndirect stderr:\n%s\nproxy stderr:\n%s", what, d.Code, x.Code, d.Stderr, x.Stderr)
	}
	for _, s := range []struct{ name, d, x string }{
		{"stdout", d.Stdout, x.Stdout},
		{"stderr", d.Stderr, x.Stderr},
	} {
		dm, xm := norm(harness.Mask(s.d)), norm(harness.Mask(s.x))
		if dm != xm {
			t.Errorf("%s: %s differs (- direct, + proxy, after masking):\n%s", what, s.name, harness.Diff(dm, xm))
		}
	}
}

// toolsSameFile fails the test unless the two files are identical.
func toolsSameFile(t *testing.T, what, pathA, pathB string) {
	t.Helper()
	a, b := toolsReadFile(t, pathA), toolsReadFile(t, pathB)
	if !bytes.Equal(a, b) {
		t.Errorf("%s: %s (%d bytes) and %s (%d bytes) differ\n%x\n%x", what, pathA, len(a), pathB, len(b), a, b)
	}
}

func toolsReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// toolsAssertCalls fails the test unless the target's broker logged each of
// the named functions at least once: the proof that the client's calls
// went through the proxy rather than around it.
func toolsAssertCalls(t *testing.T, tg *toolsTarget, names ...string) {
	t.Helper()
	if tg.broker == nil {
		t.Fatalf("toolsAssertCalls on %s, which has no broker", tg.name)
	}
	var calls map[string]int
	var missing []string
	toolsEventually(func() bool {
		calls, missing = tg.broker.Calls(), nil
		for _, n := range names {
			if calls[n] == 0 {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	})
	if len(missing) > 0 {
		t.Errorf("broker log shows no %s; calls seen: %v", strings.Join(missing, ", "), toolsCounts(calls))
	}
}

// toolsAssertResult fails the test unless the broker logged call with rv at
// least once.
func toolsAssertResult(t *testing.T, tg *toolsTarget, call, rv string) {
	t.Helper()
	if tg.broker == nil {
		t.Fatalf("toolsAssertResult on %s, which has no broker", tg.name)
	}
	var res map[string]int
	if !toolsEventually(func() bool { res = tg.broker.Results(call); return res[rv] > 0 }) {
		t.Errorf("broker log shows no %s returning %s; its results: %v", call, rv, res)
	}
}

// toolsEventually retries cond for a few seconds: a broker may log a call
// a moment after the client has seen its result (Broker.Settle waits for
// the log to go quiet; this covers a relay slower than that).
func toolsEventually(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func toolsCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}

// openssl runs openssl with args and fails the test unless it exits 0.
func toolsOpenSSL(t *testing.T, env []string, args ...string) harness.Result {
	t.Helper()
	r := harness.RunCmd(t, harness.Command{Name: "openssl", Args: args, Env: env})
	if r.Code != 0 {
		t.Fatalf("openssl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// toolsExportPubKey reads the public key with the given CKA_ID through tg and
// returns the path of a PEM copy for plain openssl. It uses pkcs11-tool
// --read-object, except where OpenSC 0.23 cannot: its EC public key export
// fails for P-384 ("cannot create EVP_PKEY", directly against SoftHSM2
// too), and there GnuTLS's p11tool --export reads the key instead, through
// the same target.
func toolsExportPubKey(t *testing.T, tg *toolsTarget, id string) string {
	t.Helper()
	der := tg.file("pub-" + id + ".der")
	pem := tg.file("pub-" + id + ".pem")
	r := tg.p11(t, "--read-object", "--type", "pubkey", "--id", id, "-o", der)
	if r.Code == 0 {
		toolsOpenSSL(t, nil, "pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem)
		return pem
	}
	if !strings.Contains(r.Stderr, "cannot create EVP_PKEY") {
		t.Fatalf("%s: pkcs11-tool --read-object --type pubkey --id %s: exit %d\n%s", tg.name, id, r.Code, r.Stderr)
	}
	harness.Require(t, "p11tool")
	x := harness.RunCmd(t, harness.Command{
		Name: "p11tool",
		Args: []string{"--provider", tg.module, "--export", tg.tok.URI() + ";id=%" + id + ";type=public"},
		Env:  tg.env,
	})
	if x.Code != 0 || !strings.Contains(x.Stdout, "BEGIN PUBLIC KEY") {
		t.Fatalf("%s: p11tool --export of public key %s: exit %d\n%s%s", tg.name, id, x.Code, x.Stdout, x.Stderr)
	}
	if err := os.WriteFile(pem, []byte(x.Stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	// Normalise through openssl, as the pkcs11-tool path does.
	toolsOpenSSL(t, nil, "pkey", "-pubin", "-in", pem, "-out", pem+".norm")
	return pem + ".norm"
}

// Keys and objects that setup functions put on template tokens. CKA_IDs are
// distinct because pkcs11-tool picks keys by --id.
const (
	toolsKeyRSA    = "01" // RSA 2048 key pair
	toolsKeyEC256  = "02" // EC P-256 key pair
	toolsKeyEC384  = "03" // EC P-384 key pair
	toolsKeyAES    = "04" // AES-256, not extractable, may wrap/unwrap
	toolsKeyAESX   = "05" // AES-256, extractable: what gets wrapped
	toolsCertID    = "10" // X.509 certificate
	toolsDataLabel = "data1"
)

// toolsPopulate creates the named objects on tg with pkcs11-tool: "rsa",
// "ec256", "ec384", "aes", "aesx", "cert", "data".
func toolsPopulate(t *testing.T, p *toolsPair, tg *toolsTarget, what ...string) {
	t.Helper()
	for _, w := range what {
		var args []string
		switch w {
		case "rsa":
			args = []string{"--keypairgen", "--key-type", "rsa:2048", "--id", toolsKeyRSA, "--label", "rsa"}
		case "ec256":
			args = []string{"--keypairgen", "--key-type", "EC:prime256v1", "--id", toolsKeyEC256, "--label", "ec256"}
		case "ec384":
			args = []string{"--keypairgen", "--key-type", "EC:secp384r1", "--id", toolsKeyEC384, "--label", "ec384"}
		case "aes":
			args = []string{"--keygen", "--key-type", "AES:32", "--id", toolsKeyAES, "--label", "aes"}
		case "aesx":
			args = []string{"--keygen", "--key-type", "AES:32", "--id", toolsKeyAESX, "--label", "aesx", "--extractable"}
		case "cert":
			args = []string{"--write-object", p.cert(t), "--type", "cert", "--id", toolsCertID, "--label", "cert"}
		case "data":
			args = []string{"--write-object", p.input(t, "data-object.txt", []byte("gop11 data object\n")),
				"--type", "data", "--label", toolsDataLabel, "--application-label", "gop11-app"}
		default:
			t.Fatalf("toolsPopulate: unknown object %q", w)
		}
		tg.p11ok(t, append(tg.login(), args...)...)
	}
}

// cert returns a self-signed DER certificate (P-256, made once per pair)
// for --write-object --type cert.
func (p *toolsPair) cert(t *testing.T) string {
	t.Helper()
	der := filepath.Join(p.dir, "cert.der")
	if _, err := os.Stat(der); err == nil {
		return der
	}
	toolsOpenSSL(t, nil, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", filepath.Join(p.dir, "cert.key"), "-subj", "/CN=gop11 tools test",
		"-days", "30", "-outform", "DER", "-out", der)
	return der
}

// toolsObjectBlocks normalises a pkcs11-tool -O (or show_object) listing into
// its object blocks, sorted. SoftHSM2 returns C_FindObjects results in the
// order of its in-memory object set, which depends on how the process came
// to hold each object (loaded from disk, or created earlier in the same
// process, as in the long-lived broker), so the order is not part of what
// a proxy must preserve. Each block starts at an unindented line.
func toolsObjectBlocks(s string) string {
	var blocks []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' && cur.Len() > 0 {
			blocks = append(blocks, cur.String())
			cur.Reset()
		}
		cur.WriteString(line)
	}
	if cur.Len() > 0 {
		blocks = append(blocks, cur.String())
	}
	sort.Strings(blocks)
	return strings.Join(blocks, "")
}
