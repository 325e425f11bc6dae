// Package diff runs one C transcript client, p11diff (p11diff*.c here),
// against SoftHSM2 twice: directly, and through build/libgop11.so and a
// broker serving a second SoftHSM2 token made the same way. The two
// transcripts must be equal line by line. p11diff prints one line per
// PKCS #11 call: the rv, output lengths and, where they are
// deterministic, output bytes; never handles. Lines starting
// "unknown-mech" only have to agree that the call failed.
//
// The test runs its two clients one after the other; it shares nothing
// with other tests but the build directory.
package diff

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

const (
	label = "p11diff" // both tokens get it: p11diff prints the token label
	pin   = "1234"
	soPIN = "87654321"

	// minLines is the least a complete transcript has: a client that
	// dies early cannot pass by printing the same few lines twice.
	minLines = 100
	// looseMarker starts the lines compared only as "both non-OK".
	looseMarker = "unknown-mech"
)

// proxiedCalls are functions p11diff calls that must show up in the
// broker log: then the proxy really was in the path.
var proxiedCalls = []string{
	"C_Login", "C_Digest", "C_DigestFinal", "C_Encrypt", "C_Decrypt",
	"C_EncryptUpdate", "C_Sign", "C_Verify", "C_WrapKey", "C_UnwrapKey",
	"C_GenerateKeyPair", "C_CreateObject", "C_GetAttributeValue",
	"C_FindObjects", "C_GetMechanismList",
}

// TestTranscript compares SoftHSM2 loaded directly with gop11 in quick
// mode (a worker per connection, or one shared by all) and with a
// config-mode broker whose module is shared by every connection
// (isolation "shared", with handoff too, and "inprocess"): a virtual
// application per connection must not change what the application sees.
func TestTranscript(t *testing.T) {
	harness.Require(t, "gcc")
	harness.Require(t, harness.SoftHSM)
	harness.RequireBuild(t)
	bin := buildP11diff(t)
	direct := harness.NewToken(t, label, pin, soPIN)
	want := transcript(t, "direct", bin, direct.Env(), harness.SoftHSM, direct.Slot)
	checkLoose(t, "direct", want)

	for name, args := range map[string][]string{"quick": nil, "quick-shared": {"--isolation", "shared"}} {
		t.Run(name, func(t *testing.T) {
			proxied := harness.NewToken(t, label, pin, soPIN)
			broker := harness.StartBroker(t, proxied, args...)
			got := transcript(t, "proxy", bin, broker.ClientEnv(), harness.Module(), proxied.Slot)
			compare(t, want, got, broker.Calls())
		})
	}
	for _, c := range []struct{ name, iso, keys string }{{"shared", "shared", ""}, {"inprocess", "inprocess", ""}, {"handoff", "shared", "handoff = true"}} {
		t.Run(c.name, func(t *testing.T) {
			proxied := harness.NewToken(t, label, pin, soPIN)
			slot, _ := strconv.ParseUint(proxied.Slot, 10, 64)
			broker := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]`+
				harness.ModuleTOML("softhsm", harness.SoftHSM, c.iso, c.keys, map[string]string{"SOFTHSM2_CONF": proxied.Conf})+
				harness.TokenTOML("softhsm", "pkcs11:token="+label, slot), nil)
			got := transcript(t, "proxy", bin, []string{"GOP11_BROKER=unix://" + broker.Sock}, harness.Module(), proxied.Slot)
			// A config serves the tokens it names: SoftHSM2's empty
			// slot is not one.
			compare(t, slotCount.ReplaceAllString(want, "${1}len=N"), slotCount.ReplaceAllString(got, "${1}len=N"), broker.Calls())
		})
	}
}

// slotCount is the slot count in C_GetSlotList's lines.
var slotCount = regexp.MustCompile(`(?m)^(a\.slots\.\S+ C_GetSlotList rv=\S+ )len=\d+`)

// checkLoose: a transcript has lines compared loosely, or the loose
// comparison would compare nothing.
func checkLoose(t *testing.T, name, out string) {
	t.Helper()
	loose := looseLines(out)
	if len(loose) == 0 {
		t.Errorf("%s: no %q line: the loose comparison would compare nothing", name, looseMarker)
	}
	for _, l := range loose {
		t.Logf("%s: %s", name, l)
	}
}

// compare fails the test unless got is want, and unless the broker's log
// shows the calls that make the transcript.
func compare(t *testing.T, want, got string, calls map[string]int) {
	t.Helper()
	t.Logf("transcript: %d lines direct, %d through the proxy", lineCount(want), lineCount(got))
	checkLoose(t, "proxy", got)
	if w, g := loosen(want), loosen(got); w != g {
		t.Errorf("the proxy's transcript differs from SoftHSM2's (- direct, + proxy):\n%s",
			changesOnly(harness.Diff(w, g)))
	}
	for _, c := range proxiedCalls {
		if calls[c] == 0 {
			t.Errorf("broker log has no %s: the proxy was not in the path (calls seen: %v)", c, calls)
		}
	}
}

// buildP11diff compiles p11diff*.c with gcc into a temporary directory.
func buildP11diff(t *testing.T) string {
	t.Helper()
	srcs, err := filepath.Glob(filepath.Join(harness.Root(), "tests", "diff", "p11diff*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no p11diff sources found (%v)", err)
	}
	bin := filepath.Join(t.TempDir(), "p11diff")
	args := append([]string{"-O1", "-Wall", "-Werror",
		"-I", filepath.Join(harness.Root(), "include"), "-o", bin}, srcs...)
	args = append(args, "-ldl")
	if out, errOut, code := harness.Run(t, nil, "gcc", args...); code != 0 {
		t.Fatalf("gcc %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return bin
}

// transcript runs p11diff and returns its output, failing the test if
// p11diff did not finish or printed too little.
func transcript(t *testing.T, name, bin string, env []string, module, slot string) string {
	t.Helper()
	out, errOut, code := harness.Run(t, env, bin, module, slot, pin)
	if code != 0 || !strings.HasSuffix(out, "\ndone\n") {
		t.Fatalf("%s: p11diff exit %d without finishing\nstderr:\n%s\nlast lines:\n%s",
			name, code, errOut, lastLines(out, 20))
	}
	if n := lineCount(out); n <= minLines {
		t.Fatalf("%s: p11diff printed %d lines, want more than %d:\n%s", name, n, minLines, out)
	}
	return out
}

// looseLines returns the lines of s that start with looseMarker.
func looseLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, looseMarker) {
			out = append(out, l)
		}
	}
	return out
}

var rvField = regexp.MustCompile(` rv=(\S+)`)

// loosen rewrites the rv of each looseMarker line to "non-OK" unless it
// is CKR_OK: there the two modules may refuse with different rvs.
func loosen(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, looseMarker) {
			continue
		}
		lines[i] = rvField.ReplaceAllStringFunc(l, func(f string) string {
			if f == " rv=CKR_OK" {
				return f
			}
			return " rv=non-OK"
		})
	}
	return strings.Join(lines, "\n")
}

// changesOnly keeps the changed lines of a harness.Diff and one line of
// context around each run of them.
func changesOnly(d string) string {
	lines := strings.Split(strings.TrimSuffix(d, "\n"), "\n")
	keep := make([]bool, len(lines))
	for i, l := range lines {
		if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
			for j := max(0, i-1); j <= min(len(lines)-1, i+1); j++ {
				keep[j] = true
			}
		}
	}
	var b strings.Builder
	for i, l := range lines {
		switch {
		case keep[i]:
			b.WriteString(l + "\n")
		case i > 0 && keep[i-1]:
			b.WriteString("  ...\n")
		}
	}
	return b.String()
}

func lineCount(s string) int { return strings.Count(s, "\n") }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
