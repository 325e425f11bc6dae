package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// Test PINs for the tools suite. The PIN-logging test uses its own,
// distinctive ones.
const (
	toolsPIN   = "1234"
	toolsSOPIN = "5678"
)

// target is one way of reaching a token: SoftHSM2 loaded directly, or
// build/libgop11.so talking to a broker that loads SoftHSM2.
type target struct {
	name   string          // "direct" or "proxy", for messages
	module string          // what clients load
	env    []string        // what clients need in their environment
	tok    *harness.Token  // the token behind it
	broker *harness.Broker // nil for direct
	dir    string          // scratch directory for this target's output files
}

// file returns the path of name in the target's scratch directory.
func (tg *target) file(name string) string { return filepath.Join(tg.dir, name) }

// p11 runs `pkcs11-tool --module M args...` against the target.
func (tg *target) p11(t *testing.T, args ...string) harness.Result {
	t.Helper()
	return harness.RunCmd(t, harness.Command{
		Name: "pkcs11-tool",
		Args: append([]string{"--module", tg.module}, args...),
		Env:  tg.env,
	})
}

// p11ok is p11 that fails the test unless pkcs11-tool exits 0.
func (tg *target) p11ok(t *testing.T, args ...string) harness.Result {
	t.Helper()
	r := tg.p11(t, args...)
	if r.Code != 0 {
		t.Fatalf("%s: pkcs11-tool %s: exit %d\nstdout:\n%s\nstderr:\n%s",
			tg.name, strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// login returns the pkcs11-tool arguments that log in as the token's user.
func (tg *target) login() []string { return []string{"--login", "--pin", tg.tok.PIN} }

// pair is the same token reached two ways. Both sides start from
// byte-identical copies of one SoftHSM2 token (harness.Token.Clone): same
// label, serial, slot ID, objects and key material. Twin tokens rather
// than one shared token, because
//   - a command that changes the token (key generation, object writes) can
//     run on both sides and both sides must end in the same state, and
//   - both sides then print the same slot IDs and serial numbers, and
//     deterministic mechanisms give byte-identical outputs,
//
// so anything that differs after harness.Mask is the proxy's doing.
type pair struct {
	direct, proxy *target
	dir           string // shared inputs (data files, certificates, peer keys)
}

// newPair creates a token labelled label with the suite's test PINs, runs
// setup against it directly (to create keys and objects), clones it, and
// starts a broker in front of the clone. setup may be nil.
func newPair(t *testing.T, label string, setup func(t *testing.T, p *pair, tg *target)) *pair {
	t.Helper()
	return newPairPINs(t, label, toolsPIN, toolsSOPIN, setup)
}

// newPairPINs is newPair with the token's PINs chosen by the caller.
func newPairPINs(t *testing.T, label, pin, soPIN string, setup func(t *testing.T, p *pair, tg *target)) *pair {
	t.Helper()
	harness.Require(t, "pkcs11-tool")
	harness.Require(t, "openssl")
	harness.Require(t, harness.SoftHSM)
	harness.RequireBuild(t)
	tok := harness.NewToken(t, label, pin, soPIN)
	p := &pair{dir: t.TempDir()}
	p.direct = &target{name: "direct", module: harness.SoftHSM, env: tok.Env(), tok: tok, dir: t.TempDir()}
	if setup != nil {
		setup(t, p, p.direct)
	}
	twin := tok.Clone(t)
	p.proxy = &target{name: "proxy", tok: twin, dir: t.TempDir()}
	b := harness.StartBroker(t, twin)
	p.proxy.module, p.proxy.env, p.proxy.broker = harness.Module(), b.ClientEnv(), b
	return p
}

// targets returns both sides, direct first.
func (p *pair) targets() []*target { return []*target{p.direct, p.proxy} }

// input writes data to a shared input file and returns its path.
func (p *pair) input(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// other returns the side that tg is not.
func (p *pair) other(tg *target) *target {
	if tg == p.direct {
		return p.proxy
	}
	return p.direct
}

// bothRun runs cmd(tg) on both sides, direct first, and fails the test
// (not fatally) unless exit codes, standard outputs and standard errors
// are equal after harness.Mask and then norm (nil for none).
func (p *pair) bothRun(t *testing.T, what string, norm func(string) string, cmd func(tg *target) harness.Command) (d, x harness.Result) {
	t.Helper()
	d = harness.RunCmd(t, cmd(p.direct))
	x = harness.RunCmd(t, cmd(p.proxy))
	compareResults(t, what, d, x, norm)
	return d, x
}

// both is bothRun for `pkcs11-tool --module M args(tg)...`. args receives
// the target so that output files can go to its own scratch directory.
func (p *pair) both(t *testing.T, what string, norm func(string) string, args func(tg *target) []string) (d, x harness.Result) {
	t.Helper()
	return p.bothRun(t, what, norm, func(tg *target) harness.Command {
		return harness.Command{Name: "pkcs11-tool", Args: append([]string{"--module", tg.module}, args(tg)...), Env: tg.env}
	})
}

// bothOK is both, also requiring exit code 0 on the direct side (the
// comparison then requires it on the proxy side).
func (p *pair) bothOK(t *testing.T, what string, norm func(string) string, args func(tg *target) []string) (d, x harness.Result) {
	t.Helper()
	d, x = p.both(t, what, norm, args)
	directOK(t, what, d)
	return d, x
}

// directOK stops the test when the direct run failed: comparing against a
// failure that was meant to be a success proves nothing.
func directOK(t *testing.T, what string, d harness.Result) {
	t.Helper()
	if d.Code != 0 {
		t.Fatalf("%s: exits %d even directly against SoftHSM2\nstdout:\n%s\nstderr:\n%s", what, d.Code, d.Stdout, d.Stderr)
	}
}

// compareResults reports every difference between a direct and a proxied
// run: exit code, then masked stdout and stderr as line diffs.
func compareResults(t *testing.T, what string, d, x harness.Result, norm func(string) string) {
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
			t.Errorf("%s: %s differs (- direct, + proxy, after masking):\n%s", what, s.name, lineDiff(dm, xm))
		}
	}
}

// sameBytes fails the test unless the two files are identical.
func sameBytes(t *testing.T, what, pathA, pathB string) {
	t.Helper()
	a, b := readFile(t, pathA), readFile(t, pathB)
	if !bytes.Equal(a, b) {
		t.Errorf("%s: %s (%d bytes) and %s (%d bytes) differ\n%x\n%x", what, pathA, len(a), pathB, len(b), a, b)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// assertCalls fails the test unless the target's broker logged each of
// the named functions at least once: the proof that the client's calls
// went through the proxy rather than around it.
func assertCalls(t *testing.T, tg *target, names ...string) {
	t.Helper()
	if tg.broker == nil {
		t.Fatalf("assertCalls on %s, which has no broker", tg.name)
	}
	calls := tg.broker.Calls()
	var missing []string
	for _, n := range names {
		if calls[n] == 0 {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Errorf("broker log shows no %s; calls seen: %v", strings.Join(missing, ", "), sortedCounts(calls))
	}
}

// assertResult fails the test unless the broker logged call with rv at
// least once.
func assertResult(t *testing.T, tg *target, call, rv string) {
	t.Helper()
	if tg.broker == nil {
		t.Fatalf("assertResult on %s, which has no broker", tg.name)
	}
	if res := tg.broker.Results(call); res[rv] == 0 {
		t.Errorf("broker log shows no %s returning %s; its results: %v", call, rv, res)
	}
}

func sortedCounts(m map[string]int) string {
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
func openssl(t *testing.T, env []string, args ...string) harness.Result {
	t.Helper()
	r := harness.RunCmd(t, harness.Command{Name: "openssl", Args: args, Env: env})
	if r.Code != 0 {
		t.Fatalf("openssl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// exportPubKey reads the public key with the given CKA_ID through tg and
// returns the path of a PEM copy for plain openssl. It uses pkcs11-tool
// --read-object, except where OpenSC 0.23 cannot: its EC public key export
// fails for P-384 ("cannot create EVP_PKEY", directly against SoftHSM2
// too), and there GnuTLS's p11tool --export reads the key instead, through
// the same target.
func exportPubKey(t *testing.T, tg *target, id string) string {
	t.Helper()
	der := tg.file("pub-" + id + ".der")
	pem := tg.file("pub-" + id + ".pem")
	r := tg.p11(t, "--read-object", "--type", "pubkey", "--id", id, "-o", der)
	if r.Code == 0 {
		openssl(t, nil, "pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem)
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
	openssl(t, nil, "pkey", "-pubin", "-in", pem, "-out", pem+".norm")
	return pem + ".norm"
}

// Keys and objects that setup functions put on template tokens. CKA_IDs are
// distinct because pkcs11-tool picks keys by --id.
const (
	idRSA    = "01" // RSA 2048 key pair
	idEC256  = "02" // EC P-256 key pair
	idEC384  = "03" // EC P-384 key pair
	idAES    = "04" // AES-256, not extractable, may wrap/unwrap
	idAESX   = "05" // AES-256, extractable: what gets wrapped
	idCert   = "10" // X.509 certificate
	labelDat = "data1"
)

// populate creates the named objects on tg with pkcs11-tool: "rsa",
// "ec256", "ec384", "aes", "aesx", "cert", "data".
func populate(t *testing.T, p *pair, tg *target, what ...string) {
	t.Helper()
	for _, w := range what {
		var args []string
		switch w {
		case "rsa":
			args = []string{"--keypairgen", "--key-type", "rsa:2048", "--id", idRSA, "--label", "rsa"}
		case "ec256":
			args = []string{"--keypairgen", "--key-type", "EC:prime256v1", "--id", idEC256, "--label", "ec256"}
		case "ec384":
			args = []string{"--keypairgen", "--key-type", "EC:secp384r1", "--id", idEC384, "--label", "ec384"}
		case "aes":
			args = []string{"--keygen", "--key-type", "AES:32", "--id", idAES, "--label", "aes"}
		case "aesx":
			args = []string{"--keygen", "--key-type", "AES:32", "--id", idAESX, "--label", "aesx", "--extractable"}
		case "cert":
			args = []string{"--write-object", p.cert(t), "--type", "cert", "--id", idCert, "--label", "cert"}
		case "data":
			args = []string{"--write-object", p.input(t, "data-object.txt", []byte("gop11 data object\n")),
				"--type", "data", "--label", labelDat, "--application-label", "gop11-app"}
		default:
			t.Fatalf("populate: unknown object %q", w)
		}
		tg.p11ok(t, append(tg.login(), args...)...)
	}
}

// cert returns a self-signed DER certificate (P-256, made once per pair)
// for --write-object --type cert.
func (p *pair) cert(t *testing.T) string {
	t.Helper()
	der := filepath.Join(p.dir, "cert.der")
	if _, err := os.Stat(der); err == nil {
		return der
	}
	openssl(t, nil, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", filepath.Join(p.dir, "cert.key"), "-subj", "/CN=gop11 tools test",
		"-days", "30", "-outform", "DER", "-out", der)
	return der
}

// objectBlocks normalises a pkcs11-tool -O (or show_object) listing into
// its object blocks, sorted. SoftHSM2 returns C_FindObjects results in the
// order of its in-memory object set, which depends on how the process came
// to hold each object (loaded from disk, or created earlier in the same
// process, as in the long-lived broker), so the order is not part of what
// a proxy must preserve. Each block starts at an unindented line.
func objectBlocks(s string) string {
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

// lineDiff returns a minimal line diff of a and b ("-" lines only in a,
// "+" lines only in b), from a longest common subsequence. Very long inputs
// get only their first difference, with context.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al)*len(bl) > 4_000_000 {
		i := 0
		for i < len(al) && i < len(bl) && al[i] == bl[i] {
			i++
		}
		lo := max(0, i-3)
		var out strings.Builder
		fmt.Fprintf(&out, "first difference at line %d:\n", i+1)
		for j := lo; j < min(len(al), i+3); j++ {
			fmt.Fprintf(&out, "- %s\n", al[j])
		}
		for j := lo; j < min(len(bl), i+3); j++ {
			fmt.Fprintf(&out, "+ %s\n", bl[j])
		}
		return out.String()
	}
	// lcs[i][j] = LCS length of al[i:] and bl[j:]
	lcs := make([][]int32, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			fmt.Fprintf(&out, "  %s\n", al[i])
			i++
			j++
		case j < len(bl) && (i == len(al) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&out, "+ %s\n", bl[j])
			j++
		default:
			fmt.Fprintf(&out, "- %s\n", al[i])
			i++
		}
	}
	return out.String()
}

// secretForms returns the ways a secret could show up in a log: as is, in
// hex (plain and byte-spaced, as hex dumps print it), as a JSON byte list,
// and in base64 (standard and URL alphabets) at each of the three
// alignments it could have inside a longer encoded buffer. Callers search
// case-insensitively.
func secretForms(secret string) map[string]string {
	b := []byte(secret)
	forms := map[string]string{
		"raw": secret,
		"hex": hex.EncodeToString(b),
	}
	spaced := make([]string, len(b))
	list := make([]string, len(b))
	for i, c := range b {
		spaced[i] = fmt.Sprintf("%02x", c)
		list[i] = fmt.Sprint(c)
	}
	forms["spaced hex"] = strings.Join(spaced, " ")
	forms["byte list"] = strings.Join(list, ",")
	for o := 0; o < 3; o++ {
		buf := append(make([]byte, o), b...)
		// Characters wholly inside the secret's bits: from ceil(8o/6)
		// to floor(8(o+n)/6).
		from, to := (8*o+5)/6, 8*(o+len(b))/6
		for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
			forms[fmt.Sprintf("%s at offset %d", name, o)] = enc.EncodeToString(buf)[from:to]
		}
	}
	return forms
}

func TestToolsSecretForms(t *testing.T) {
	secret := "Sup3rSecretPin-4711"
	forms := secretForms(secret)
	for o := 0; o < 3; o++ {
		blob := append([]byte("{\"msg\":"[:o+4]), secret...)
		blob = append(blob, "tail"...)
		enc := base64.StdEncoding.EncodeToString(blob)
		found := false
		for _, f := range forms {
			found = found || strings.Contains(enc, f)
		}
		if !found {
			t.Errorf("base64 of the secret at offset %d not recognised in %s", o+4, enc)
		}
	}
	if !strings.Contains(fmt.Sprintf("% x", secret), forms["spaced hex"]) {
		t.Errorf("spaced hex form %q", forms["spaced hex"])
	}
}
