// Package metrics tests metrics_listen: a config-mode broker in front of
// two SoftHSM2 tokens (one behind tests/faultmod), driven by pkcs11-tool,
// scraped over HTTP: call counts and latency histograms, worker starts
// and crashes, policy denials, and /healthz turning 503 when a module
// cannot start.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

const pin = "Qx7-metrics-4711"

// scrape fetches path from the broker's metrics server.
func scrape(t *testing.T, port int, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// value is the sample of metric with exactly the labels given, or -1.
func value(text, metric, labels string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(metric+"{"+labels+"}") + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// tester is the policy of the tests' client: no key generation.
const tester = `
[[client]]
name = "tester"
uids = [0]
operations = ["sign", "find", "read"]
`

// signer is a token labelled label with an EC key pair, ID 01.
func signer(t *testing.T, label string) *harness.Token {
	t.Helper()
	tok := harness.NewToken(t, label, pin, "Qx7-so-0815")
	if _, stderr, code := harness.Run(t, tok.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", tok.Label,
		"--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "ec", "--id", "01"); code != 0 {
		t.Fatalf("keypairgen: %s", stderr)
	}
	return tok
}

// faultCopy is the fault module at a path of the test's, so that it can
// be broken on disk for the health check.
func faultCopy(t *testing.T) string {
	t.Helper()
	lib := filepath.Join(t.TempDir(), "libfaultmod.so")
	data, err := os.ReadFile(harness.FaultModule(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(lib, data, 0o755)
	return lib
}

func TestMetrics(t *testing.T) {
	harness.Require(t, "pkcs11-tool")
	good, faulty := signer(t, "signer"), signer(t, "faulty")
	faultLib := faultCopy(t)
	port := harness.FreePort(t)
	b := harness.StartConfigBroker(t, fmt.Sprintf(`listen = ["unix://%%SOCK%%"]
metrics_listen = "127.0.0.1:%d"
`, port)+
		harness.ModuleTOML("softhsm", harness.SoftHSM, "process", "", map[string]string{"SOFTHSM2_CONF": good.Conf})+
		harness.ModuleTOML("faulty", faultLib, "process", "", map[string]string{"SOFTHSM2_CONF": faulty.Conf})+
		harness.TokenTOML("softhsm", "pkcs11:token=signer", 1)+
		harness.TokenTOML("faulty", "pkcs11:token=faulty", 2)+tester, nil)
	env := []string{"GOP11_BROKER=unix://" + b.Sock}
	dir := t.TempDir()
	p11 := func(slot int, args ...string) (string, int) {
		out, stderr, code := harness.Run(t, env, "pkcs11-tool", append([]string{"--module", harness.Module(), "--slot", strconv.Itoa(slot),
			"--login", "--pin", pin}, args...)...)
		return out + stderr, code
	}
	sign := func(slot int, data string) (string, int) {
		in := filepath.Join(dir, "in")
		os.WriteFile(in, []byte(data), 0o600)
		return p11(slot, "--sign", "--mechanism", "ECDSA", "--id", "01", "--input-file", in, "--output-file", filepath.Join(dir, "sig"))
	}

	if code, body := scrape(t, port, "/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz with both modules fine: %d %s", code, body)
	}
	const n = 5
	for i := range n {
		if out, code := sign(1, fmt.Sprintf("message %d of the metrics test", i)); code != 0 {
			t.Fatalf("pkcs11-tool --sign: exit %d\n%s", code, out)
		}
	}
	if out, code := sign(2, "gop11-crash: the faulty module aborts"); code == 0 {
		t.Fatalf("signing gop11-crash on the fault module succeeded:\n%s", out)
	}
	if _, code := p11(1, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "denied"); code == 0 {
		t.Fatalf("key generation succeeded though the policy allows none")
	}
	b.WaitLog(`"why":"crashed: `, 5*time.Second)

	// The last client's connection ends after its process: wait for the
	// broker to see it go.
	var text string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, text = scrape(t, port, "/metrics")
		if strings.Contains(text, "\ngop11_connections 0\n") || time.Now().After(deadline) {
			break
		}
	}
	var ours []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "gop11_") && (!strings.Contains(l, "_bucket") || strings.Contains(l, `function="C_Sign"`)) {
			ours = append(ours, l)
		}
	}
	t.Logf("scrape:\n%s", strings.Join(ours, "\n"))
	for _, c := range []struct {
		metric, labels string
		want           float64
	}{
		{"gop11_calls_total", `function="C_Sign",rv="CKR_OK"`, n},
		{"gop11_calls_total", `function="C_Sign",rv="CKR_DEVICE_ERROR"`, 1},
		{"gop11_call_duration_seconds_count", `function="C_Sign"`, n + 1},
		{"gop11_worker_crashes_total", `module="faulty"`, 1},
		{"gop11_policy_denials_total", `client="tester",function="C_GenerateKeyPair"`, 1},
		{"gop11_module_call_duration_seconds_count", `function="C_Sign",module="softhsm"`, n},
		{"gop11_module_call_duration_seconds_count", `function="C_Sign",module="faulty"`, 1},
		{"gop11_connections", ``, 0},
	} {
		got := value(text, c.metric, c.labels)
		if c.labels == "" {
			m := regexp.MustCompile(`(?m)^` + c.metric + ` (\S+)$`).FindStringSubmatch(text)
			got = -1
			if m != nil {
				got, _ = strconv.ParseFloat(m[1], 64)
			}
		}
		if got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	// Each pkcs11-tool run got a worker per module it used, and the
	// broker's probes one each.
	if s := value(text, "gop11_worker_starts_total", `module="softhsm"`); s < n+1 {
		t.Errorf("worker starts for softhsm: %v, want at least %d", s, n+1)
	}
	if !strings.Contains(text, `gop11_call_duration_seconds_bucket{function="C_Sign",le="1e-05"}`) {
		t.Errorf("no latency histogram buckets for C_Sign:\n%s", harness.Tail(text, 20))
	}

	// A module whose library is broken on disk cannot start a worker:
	// /healthz says 503 and names it.
	os.WriteFile(faultLib, []byte("not a shared library"), 0o755)
	time.Sleep(2100 * time.Millisecond) // past the cached answer
	code, body := scrape(t, port, "/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"faulty"`) || strings.Contains(body, `"softhsm"`) {
		t.Errorf("/healthz with the fault module broken: %d %s, want 503 naming faulty alone", code, body)
	}
}

// TestHandoffMetrics: with handoff = true the module's worker serves the
// calls and counts them, and the broker's scrape shows its counts beside
// the broker's own (worker starts and crashes). A crash of the worker
// ends its counts (a Prometheus counter reset) and the next client starts
// another; /healthz is 503 while no worker can load the module.
func TestHandoffMetrics(t *testing.T) {
	harness.Require(t, "pkcs11-tool")
	tok, faultLib := signer(t, "signer"), faultCopy(t)
	port := harness.FreePort(t)
	b := harness.StartConfigBroker(t, fmt.Sprintf(`listen = ["unix://%%SOCK%%"]
metrics_listen = "127.0.0.1:%d"
`, port)+
		harness.ModuleTOML("signer", faultLib, "shared", "handoff = true", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
		harness.TokenTOML("signer", "pkcs11:token=signer", 1)+tester, nil)
	env := []string{"GOP11_BROKER=unix://" + b.Sock}
	dir := t.TempDir()
	sign := func(data string) (string, int) {
		in := filepath.Join(dir, "in")
		os.WriteFile(in, []byte(data), 0o600)
		out, stderr, code := harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--slot", "1", "--login", "--pin", pin,
			"--sign", "--mechanism", "ECDSA", "--id", "01", "--input-file", in, "--output-file", filepath.Join(dir, "sig"))
		return out + stderr, code
	}
	if code, body := scrape(t, port, "/healthz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz with the worker serving: %d %s", code, body)
	}
	if out, code := sign("gop11-crash: the module aborts, and the worker with it"); code == 0 {
		t.Fatalf("signing gop11-crash succeeded:\n%s", out)
	}
	b.WaitLog(`"why":"crashed: `, 5*time.Second)
	const n = 5
	for i := range n {
		if out, code := sign(fmt.Sprintf("message %d of the handoff metrics test", i)); code != 0 {
			t.Fatalf("pkcs11-tool --sign after the crash: exit %d\n%s", code, out)
		}
	}
	if _, stderr, code := harness.Run(t, env, "pkcs11-tool", "--module", harness.Module(), "--slot", "1", "--login", "--pin", pin,
		"--keypairgen", "--key-type", "EC:prime256v1", "--label", "denied"); code == 0 {
		t.Fatalf("key generation succeeded though the policy allows none: %s", stderr)
	}
	var text string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, text = scrape(t, port, "/metrics")
		if strings.Contains(text, "\ngop11_connections 0\n") || time.Now().After(deadline) {
			break
		}
	}
	for _, c := range []struct {
		metric, labels string
		want           float64
	}{
		{"gop11_calls_total", `function="C_Sign",rv="CKR_OK"`, n}, // the crashed worker's count went with it
		{"gop11_call_duration_seconds_count", `function="C_Sign"`, n},
		{"gop11_module_call_duration_seconds_count", `function="C_Sign",module="signer"`, n},
		{"gop11_policy_denials_total", `client="tester",function="C_GenerateKeyPair"`, 1},
		{"gop11_worker_starts_total", `module="signer"`, 2},
		{"gop11_worker_crashes_total", `module="signer"`, 1},
	} {
		if got := value(text, c.metric, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	if strings.Count(text, "# TYPE gop11_connections ") != 1 || !strings.Contains(text, "\ngop11_connections 0\n") {
		t.Errorf("gop11_connections must come once, the worker's, and be 0:\n%s", harness.Tail(text, 40))
	}

	// The library broken on disk and the worker killed: the next worker
	// cannot load it, and /healthz says so.
	os.WriteFile(faultLib, []byte("not a shared library"), 0o755)
	pids := regexp.MustCompile(`"worker":(\d+)[^\n]*"message":"shared worker started"`).FindAllStringSubmatch(b.Log(), -1)
	pid, _ := strconv.Atoi(pids[len(pids)-1][1])
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(2100 * time.Millisecond) // past the cached answer
	code, body := scrape(t, port, "/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"signer"`) {
		t.Errorf("/healthz with the module broken: %d %s, want 503 naming signer", code, body)
	}
}
