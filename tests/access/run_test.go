package access

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

// who is the identity a client runs as: uid and gid (root, or a user the
// test made), switched to with setpriv.
type who struct {
	name     string
	uid, gid int
}

var root = who{name: "root"}

// argv prefixes a command so that it runs as w with w's group alone.
func (w who) argv(argv ...string) []string {
	if w.uid == 0 && w.gid == 0 {
		return argv
	}
	return append([]string{"setpriv", "--reuid=" + strconv.Itoa(w.uid), "--regid=" + strconv.Itoa(w.gid), "--clear-groups", "--"}, argv...)
}

// makeUser makes a system user called name (harness.NewUser).
func makeUser(t *testing.T, name string) who {
	t.Helper()
	harness.Require(t, "setpriv")
	u := harness.NewUser(t, name)
	return who{name: u.Name, uid: u.UID, gid: u.GID}
}

// bins holds what every user must be able to run and load: a copy of
// this test binary (the Go client) and of build/libgop11.so, in a
// directory of mode 0755 (the build tree may not be readable by them).
// Made once, by the first test that needs it; TestMain removes it.
var bins struct {
	once           sync.Once
	dir, self, mod string
	err            error
}

func clientBins(t *testing.T) (self, module string) {
	t.Helper()
	harness.RequireBuild(t)
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "gop11-access-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		var exe string
		if err == nil {
			exe, err = os.Executable()
		}
		bins.dir, bins.self, bins.mod = dir, filepath.Join(dir, "access.test"), filepath.Join(dir, "libgop11.so")
		if err == nil {
			err = harness.CopyFile(exe, bins.self, 0o755)
		}
		if err == nil {
			err = harness.CopyFile(harness.Module(), bins.mod, 0o644)
		}
		bins.err = err
	})
	if bins.err != nil {
		t.Fatalf("copying the client binaries: %v", bins.err)
	}
	return bins.self, bins.mod
}

// openDir makes a temp dir every user may write in (mode 0777): clients'
// logs (GOP11_LOG), their input and output files.
func openDir(t *testing.T) string { return tempDir(t, "gop11-access-", 0o777) }

// tempDir makes a directory with a short path (t.TempDir() names can
// overflow a socket's sun_path) and mode, removed at cleanup.
func tempDir(t *testing.T, prefix string, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// clientEnv points libgop11.so at endpoint and its log at logFile.
func clientEnv(endpoint, logFile string) []string {
	return []string{"GOP11_BROKER=" + endpoint, "GOP11_LOG=" + logFile}
}

// tool runs argv as w with env (added to the environment less GOP11_* and
// SOFTHSM2_CONF), in the temp dir (the test's may be closed to w).
func tool(t *testing.T, w who, env []string, argv ...string) harness.Result {
	t.Helper()
	full := w.argv(argv...)
	return harness.RunCmd(t, harness.Command{Name: full[0], Args: full[1:], Env: env, Dir: os.TempDir()})
}

// p11tool runs pkcs11-tool on module as w.
func p11tool(t *testing.T, w who, module string, env []string, args ...string) harness.Result {
	t.Helper()
	return tool(t, w, env, append([]string{"pkcs11-tool", "--module", module}, args...)...)
}

// script is one run of the Go client.
type script struct {
	t      *testing.T
	steps  []step
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
	out    bytes.Buffer // everything it printed on stdout
	exited chan struct{}
}

// startScript runs steps in the Go client as w, with env. Read its
// reports with next; a pause step waits for resume.
func startScript(t *testing.T, w who, env []string, steps []step) *script {
	t.Helper()
	names := map[string]bool{}
	for _, s := range steps {
		if s.Name != "" && names[s.Name] {
			t.Fatalf("script: two steps named %q", s.Name)
		}
		names[s.Name] = true
	}
	self, mod := clientBins(t)
	js, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	argv := w.argv(self)
	s := &script{t: t, steps: steps, lines: make(chan string, 4), exited: make(chan struct{})}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOP11_") && !strings.HasPrefix(kv, "SOFTHSM2_CONF=") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	// env comes last: a GOP11_ACCESS_MODULE there wins (the last of
	// duplicate keys does).
	s.cmd.Env = append(s.cmd.Env, scriptEnv+"="+string(js), moduleEnv+"="+mod,
		// Built with -race, the client would sleep 1 s at exit for
		// goroutines' reports: it has none.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Dir = os.TempDir()
	s.cmd.Stderr = &s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	})
	return s
}

// next returns the client's next report: at a pause or the final one.
func (s *script) next() report {
	s.t.Helper()
	select {
	case line, ok := <-s.lines:
		if !ok {
			s.t.Fatalf("Go client exited without a report\nstderr:\n%s", s.errText())
		}
		s.out.WriteString(line + "\n")
		var r report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			s.t.Fatalf("Go client printed %q: %v", line, err)
		}
		if r.Error != "" {
			s.t.Fatalf("Go client: %s", r.Error)
		}
		return r
	case <-time.After(2 * waitMax):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.t.Fatalf("Go client gave no report within %v\nstderr:\n%s", 2*waitMax, s.errText())
	}
	return report{}
}

// resume lets a paused client go on, with lists of handles (another
// client's, for probes) added to its own.
func (s *script) resume(lists map[string][]uint) {
	b, _ := json.Marshal(lists)
	if _, err := s.stdin.Write(append(b, '\n')); err != nil {
		s.t.Fatalf("resuming the Go client: %v", err)
	}
}

// finish returns the final report, once the client has exited.
func (s *script) finish() report {
	s.t.Helper()
	r := s.next()
	if r.Paused != "" {
		s.t.Fatalf("Go client paused at %q where the test expected its end", r.Paused)
	}
	select {
	case <-s.exited:
	case <-time.After(waitMax):
		s.t.Fatalf("Go client did not exit after its report")
	}
	if !s.cmd.ProcessState.Success() {
		s.t.Fatalf("Go client: %v\nstderr:\n%s", s.cmd.ProcessState, s.errText())
	}
	return r
}

// errText is the tail of the client's stderr, once it has exited (until
// then exec's copier may still write to it).
func (s *script) errText() string {
	select {
	case <-s.exited:
		return harness.Tail(s.stderr.String(), 30)
	case <-time.After(waitMax):
		return "(the client has not exited)"
	}
}

// output is everything the client printed, for the PIN search.
func (s *script) output() string { return s.out.String() + s.stderr.String() }

// runScript runs a script without pauses to its end.
func runScript(t *testing.T, w who, env []string, steps []step) report {
	t.Helper()
	return startScript(t, w, env, steps).finish()
}

// opCall is the PKCS #11 function a step's denial is logged under.
var opCall = map[string]string{
	"slotinfo": "C_GetSlotInfo", "tokeninfo": "C_GetTokenInfo", "mechs": "C_GetMechanismList",
	"mechinfo": "C_GetMechanismInfo", "open": "C_OpenSession", "open-max": "C_OpenSession",
	"open-parallel": "C_OpenSession", "close": "C_CloseSession", "closeall": "C_CloseAllSessions", "login": "C_Login", "sessinfo": "C_GetSessionInfo",
	"find": "C_FindObjectsInit", "getattr": "C_GetAttributeValue", "setattr": "C_SetAttributeValue",
	"sign": "C_SignInit", "verifyinit": "C_VerifyInit", "random": "C_GenerateRandom",
	"create": "C_CreateObject", "copy": "C_CopyObject", "destroy": "C_DestroyObject",
	"genkey": "C_GenerateKey", "genpair": "C_GenerateKeyPair", "wrap": "C_WrapKey",
	"unwrap": "C_UnwrapKey", "derive": "C_DeriveKey", "setpin": "C_SetPIN", "initpin": "C_InitPIN", "inittoken": "C_InitToken",
}

// check compares a report with the steps' Want, for the steps named in
// names (every named step with a Want when names is empty), and checks
// the broker's denial lines: each step with a Rule must have its own
// "denied" line (identity, call, rule, rv), and the client must have no
// denial that no step expects.
func (s *script) check(r report, b *broker, names ...string) {
	s.t.Helper()
	only := map[string]bool{}
	for _, n := range names {
		only[n] = true
	}
	var denials []step
	for _, st := range s.steps {
		if st.Want == "" || (len(only) > 0 && !only[st.Name]) {
			continue
		}
		checkAnswer(s.t, st, r.Answers[st.Name])
		if st.Rule != "" {
			denials = append(denials, st)
		}
	}
	if b != nil && len(only) == 0 {
		checkDenials(s.t, b, fmt.Sprintf("pid=%d", r.PID), denials)
	}
}

// checkAnswer compares one answer with st.Want ("CKR_X" or "CKR_X|value").
func checkAnswer(t *testing.T, st step, a answer) {
	t.Helper()
	rv, val, withVal := strings.Cut(st.Want, "|")
	if a.RV != rv {
		t.Errorf("%s: %s (value %q), want %s", st.Name, a.RV, a.V, rv)
		return
	}
	if withVal && a.V != val {
		t.Errorf("%s: value %q, want %q", st.Name, a.V, val)
	}
}

// checkDenials checks that the broker logged one "denied" line for each
// of the steps (call, rule prefix, rv, slot, and the object's label when
// the step names one), all naming the identity, and no other denial for
// that identity.
func checkDenials(t *testing.T, b *broker, identity string, steps []step) {
	t.Helper()
	lines := b.matching("denied", func(e entry) bool { return strings.Contains(e.str("identity"), identity) })
	used := make([]bool, len(lines))
	for _, st := range steps {
		call, rv := opCall[st.Op], strings.Split(st.Want, "|")[0]
		found := false
		for i, e := range lines {
			if !used[i] && e.str("call") == call && e.str("rv") == rv && strings.HasPrefix(e.str("rule"), st.Rule) &&
				e["slot"] != nil && (st.Label == "" || e.str("label") == st.Label) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("%s: no broker log line \"denied\" for %s with call %s, rule %q…, rv %s, a slot, label %q", st.Name, identity, call, st.Rule, rv, st.Label)
		}
	}
	for i, e := range lines {
		if !used[i] {
			t.Errorf("the broker denied %s a call no step expects: %s", identity, e)
		}
	}
}
