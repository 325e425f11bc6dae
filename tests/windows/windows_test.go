// Package windows tests the Windows client, build/windows/libgop11.dll,
// on this Linux machine: a Windows program (mingw) loads it under Wine and
// reaches a Linux gop11-broker over mutual TLS on 127.0.0.1, in front of a
// SoftHSM2 token. Its transcript must equal the Linux client's and the
// vendor module's own, and openssl verifies its signatures.
package windows

import (
	"encoding/asn1"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gop11/gop11/tests/harness"
)

const (
	// PINs no log line can hold by chance (a port, a pid or a duration
	// held "1234": the check that no PIN reaches the client log failed).
	userPIN = "Qx7-amplia-pin-4711"
	soPIN   = "Qx7-amplia-so-0815"
	wine    = "/usr/lib/wine/wine64" // Debian's wine64 puts no wine64 in PATH
	mingw   = "x86_64-w64-mingw32-gcc"
)

// winPath is a Linux path as a Windows program under Wine names it (Z: is
// the root).
func winPath(p string) string { return "Z:" + strings.ReplaceAll(p, "/", `\`) }

// dll is build/windows/libgop11.dll (make windows), built here if missing.
func dll(t *testing.T) string {
	t.Helper()
	p := filepath.Join(harness.Root(), "build", "windows", "libgop11.dll")
	if _, err := os.Stat(p); err != nil {
		out, code := run(t, nil, "make", "-C", harness.Root(), "windows")
		if code != 0 {
			t.Fatalf("make windows: %s", out)
		}
	}
	return p
}

func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	r := harness.RunCmd(t, harness.Command{Name: name, Args: args, Env: env, Timeout: 2 * time.Minute})
	return r.Stdout + r.Stderr, r.Code
}

// Wine is a private Wine prefix with a running wineserver, and the test
// harness's bcryptprimitives.dll stand-in in its system32
// (bcryptprimitives.c says why).
type Wine struct {
	Prefix string
	env    []string
}

func newWine(t *testing.T) *Wine {
	t.Helper()
	harness.Require(t, wine)
	harness.Require(t, mingw)
	w := &Wine{Prefix: filepath.Join(t.TempDir(), "prefix")}
	w.env = []string{"WINEPREFIX=" + w.Prefix, "WINEDEBUG=-all", "WINEARCH=win64",
		"WINEDLLOVERRIDES=bcryptprimitives=n;mscoree,mshtml="}
	// A persistent wineserver of our own: one that wine starts itself
	// outlives it and holds the test's pipes open.
	server := exec.Command("/usr/lib/wine/wineserver", "-p", "-f")
	server.Env = append(os.Environ(), w.env...)
	if err := server.Start(); err != nil {
		t.Fatalf("wineserver: %v", err)
	}
	t.Cleanup(func() {
		k := exec.Command("/usr/lib/wine/wineserver", "-k")
		k.Env = append(os.Environ(), w.env...)
		k.Run()
		server.Process.Kill()
		server.Wait()
	})
	if out, code := run(t, w.env, wine, "wineboot", "-i"); code != 0 {
		t.Fatalf("wineboot: exit %d\n%s", code, out)
	}
	stub := compileWin(t, "tests/windows/bcryptprimitives.c", "bcryptprimitives.dll", "-shared", "-ladvapi32")
	if err := harness.CopyFile(stub, filepath.Join(w.Prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// Run runs a Windows program with env added.
func (w *Wine) Run(t *testing.T, env []string, exe string, args ...string) (string, int) {
	t.Helper()
	return run(t, append(append([]string{}, w.env...), env...), wine, append([]string{exe}, args...)...)
}

// ProgramData is the prefix's %ProgramData%\gop11 directory.
func (w *Wine) ProgramData() string {
	return filepath.Join(w.Prefix, "drive_c", "ProgramData", "gop11")
}

func compileWin(t *testing.T, src, out string, args ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), out)
	argv := append([]string{"-O1", "-Wall", "-Werror", "-I", filepath.Join(harness.Root(), "include"), "-o", path,
		filepath.Join(harness.Root(), src)}, args...)
	if b, err := exec.Command(mingw, argv...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", mingw, src, err, b)
	}
	return path
}

// site is a broker in front of a SoftHSM2 token holding Amplia's keys,
// with a tls:// listener and one [[client]] for the CA's certificate.
type site struct {
	tok         *harness.Token
	addr        string
	ca          *harness.CA
	client      *harness.Cert
	rsaPub, ecP string // PEM public keys
}

func newSite(t *testing.T) *site {
	t.Helper()
	harness.Require(t, "pkcs11-tool")
	harness.Require(t, "openssl")
	s := &site{tok: harness.NewToken(t, "amplia", userPIN, soPIN), addr: fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))}
	dir := t.TempDir()
	for _, k := range []struct{ label, id, typ string }{{"rsa-key", "01", "rsa:2048"}, {"ec-key", "02", "EC:prime256v1"}} {
		if out, code := run(t, s.tok.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "amplia", "--login",
			"--pin", userPIN, "--keypairgen", "--key-type", k.typ, "--label", k.label, "--id", k.id); code != 0 {
			t.Fatalf("keypairgen %s: %s", k.label, out)
		}
		der := filepath.Join(dir, k.label+".der")
		if out, code := run(t, s.tok.Env(), "pkcs11-tool", "--module", harness.SoftHSM, "--token-label", "amplia",
			"--read-object", "--type", "pubkey", "--label", k.label, "-o", der); code != 0 {
			t.Fatalf("read %s: %s", k.label, out)
		}
		pub := filepath.Join(dir, k.label+".pem")
		if out, code := run(t, nil, "openssl", "pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pub); code != 0 {
			t.Fatalf("openssl pkey %s: %s", k.label, out)
		}
		if k.id == "01" {
			s.rsaPub = pub
		} else {
			s.ecP = pub
		}
	}
	s.ca = harness.NewCA(t, "site CA")
	server := s.ca.ServerCert()
	s.client = s.ca.Issue("amplia.example.org", harness.CertOptions{DNS: []string{"amplia.example.org"}})
	cfg := fmt.Sprintf("listen = [%q]\n[tls]\ncert = %q\nkey = %q\nclient_ca = %q\n", "tls://"+s.addr,
		server.CertPath, server.KeyPath, s.ca.CertPath) +
		harness.ModuleTOML("softhsm", harness.SoftHSM, "process", "", map[string]string{"SOFTHSM2_CONF": s.tok.Conf}) +
		harness.TokenTOML("softhsm", "pkcs11:token=amplia", 1) +
		"\n[[client]]\nname = \"amplia\"\ncert_names = [\"amplia.example.org\"]\nslots = [1]\n"
	var args []string
	if os.Getenv("GOP11_WINDOWS_BENCH") != "" {
		args = []string{"--log-level", "info"} // not a debug line per call while timing
	}
	harness.StartConfigBroker(t, cfg, nil, args...)
	return s
}

// clientTOML is a client.toml for the site; path turns a Linux path into
// the client platform's.
func (s *site) clientTOML(log string, path func(string) string) string {
	return fmt.Sprintf("broker = %q\nlog = '%s'\ndial_timeout = \"5s\"\n[tls]\nca = '%s'\ncert = '%s'\nkey = '%s'\n",
		"tls://"+s.addr, path(log), path(s.ca.CertPath), path(s.client.CertPath), path(s.client.KeyPath))
}

// verify checks the signatures a run left in dir with openssl.
func (s *site) verify(t *testing.T, who, dir string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "ec.sig"))
	if err != nil || len(raw) != 64 {
		t.Fatalf("%s: ec.sig: %d bytes, %v", who, len(raw), err)
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ec.der"), der, 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for _, v := range []struct{ pub, sig string }{{s.rsaPub, "rsa.sig"}, {s.ecP, "ec.der"}} {
		out, code := run(t, nil, "openssl", "dgst", "-sha256", "-verify", v.pub, "-signature", filepath.Join(dir, v.sig), data)
		if code != 0 || !strings.Contains(out, "Verified OK") {
			t.Errorf("%s: openssl dgst -verify %s: exit %d: %s", who, v.sig, code, out)
		}
	}
}

// transcript drops the abi: and info: lines, which are the platform's
// and the library's own, checks the first against wantABI and returns the
// second apart.
func transcript(t *testing.T, who, out, wantABI string) (kept, info string) {
	t.Helper()
	var lines []string
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n") {
		if abi, ok := strings.CutPrefix(line, "abi: "); ok {
			if abi != wantABI {
				t.Errorf("%s: abi %q, want %q", who, abi, wantABI)
			}
			continue
		}
		if u, ok := strings.CutPrefix(line, "unload: "); ok {
			// A Go runtime cannot be unloaded: entry.c pins the DLL.
			if u != "libgop11.dll stays mapped after FreeLibrary" {
				t.Errorf("%s: %s", who, u)
			}
			continue
		}
		if i, ok := strings.CutPrefix(line, "info: "); ok {
			info = i
			continue
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n"), info
}

const (
	linuxABI   = "CK_ULONG 8, CK_ATTRIBUTE 24, CK_MECHANISM 24, CK_GCM_PARAMS 48"
	windowsABI = "CK_ULONG 4, CK_ATTRIBUTE 16, CK_MECHANISM 16, CK_GCM_PARAMS 32"
)

// TestWindowsClient: the Amplia flow from a Windows program through
// libgop11.dll under Wine, configured as a service would be (ProgramData,
// then the registry), over mutual TLS to a Linux broker; the same flow
// from Linux through libgop11.so, and against SoftHSM2 loaded directly;
// the three transcripts equal and every signature verified by openssl.
// Then the errors: no broker, and a refused certificate.
func TestWindowsClient(t *testing.T) {
	harness.RequireBuild(t)
	w := newWine(t)
	lib := dll(t)
	s := newSite(t)
	exe := compileWin(t, "tests/windows/p11win.c", "p11win.exe")
	native := harness.CompileC(t, "tests/windows/p11win.c", "p11win")

	// The DLL's export table: the spec's functions by name.
	out, code := run(t, nil, "x86_64-w64-mingw32-objdump", "-p", lib)
	if code != 0 {
		t.Fatalf("objdump: %s", out)
	}
	for _, fn := range []string{"C_GetFunctionList", "C_GetInterfaceList", "C_GetInterface", "C_Initialize", "C_SignMessage"} {
		if !strings.Contains(out, "] "+fn+"\n") {
			t.Errorf("libgop11.dll does not export %s", fn)
		}
	}

	// The vendor module itself, then the Linux client.
	directDir, linuxDir := t.TempDir(), t.TempDir()
	out, code = run(t, s.tok.Env(), native, harness.SoftHSM, "amplia", s.tok.Serial, userPIN, directDir)
	if code != 0 {
		t.Fatalf("direct: exit %d\n%s", code, out)
	}
	want, _ := transcript(t, "direct", out, linuxABI)
	linuxConf := filepath.Join(t.TempDir(), "client.toml")
	os.WriteFile(linuxConf, []byte(s.clientTOML(filepath.Join(linuxDir, "client.log"), func(p string) string { return p })), 0o600)
	out, code = run(t, []string{"GOP11_CONFIG=" + linuxConf}, native, harness.Module(), "amplia", s.tok.Serial, userPIN, linuxDir)
	got, gop11Info := transcript(t, "linux", out, linuxABI)
	if code != 0 || got != want {
		t.Fatalf("linux client: exit %d\n%s", code, harness.Diff(want, got))
	}
	s.verify(t, "direct", directDir)
	s.verify(t, "linux", linuxDir)

	// Windows, configured by %ProgramData%\gop11\client.toml.
	winDir := t.TempDir()
	winLog := filepath.Join(winDir, "client.log")
	os.MkdirAll(w.ProgramData(), 0o755)
	pd := filepath.Join(w.ProgramData(), "client.toml")
	if err := os.WriteFile(pd, []byte(s.clientTOML(winLog, winPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = w.Run(t, nil, exe, winPath(lib), "amplia", s.tok.Serial, userPIN, winPath(winDir))
	got, info := transcript(t, "windows", out, windowsABI)
	if code != 0 || got != want || info != gop11Info {
		t.Fatalf("windows client (ProgramData config): exit %d, C_GetInfo %q (the linux client's %q)\n%s", code, info, gop11Info, harness.Diff(want, got))
	}
	t.Logf("windows transcript (ProgramData config):\n%s", out)
	s.verify(t, "windows", winDir)
	logText, _ := os.ReadFile(winLog)
	if !strings.Contains(string(logText), `"message":"connected"`) || !strings.Contains(string(logText), `ProgramData\\gop11\\client.toml`) {
		t.Errorf("windows client log does not say it connected with the ProgramData config:\n%s", logText)
	}
	for _, pin := range []string{userPIN, "not-the-pin"} { // p11win.c tries the second first
		if strings.Contains(string(logText), pin) {
			t.Errorf("the PIN %q reached the client log", pin)
		}
	}
	// TLS lanes (wire/lane_other.go) carry the calls, not yamux streams.
	if strings.Contains(string(logText), "no lane to") {
		t.Errorf("the Windows client could not open a TLS lane:\n%s", logText)
	}

	// The registry names the file when ProgramData has none.
	os.Remove(pd)
	regDir := t.TempDir()
	regConf := filepath.Join(regDir, "elsewhere.toml")
	os.WriteFile(regConf, []byte(s.clientTOML(filepath.Join(regDir, "client.log"), winPath)), 0o644)
	if out, code := w.Run(t, nil, "reg", "add", `HKLM\SOFTWARE\gop11`, "/v", "Config", "/t", "REG_SZ", "/d", winPath(regConf), "/f"); code != 0 {
		t.Fatalf("reg add: exit %d\n%s", code, out)
	}
	out, code = w.Run(t, nil, exe, winPath(lib), "amplia", s.tok.Serial, userPIN, winPath(regDir))
	if got, _ := transcript(t, "windows (registry)", out, windowsABI); code != 0 || got != want {
		t.Fatalf("windows client (registry config): exit %d\n%s", code, harness.Diff(want, got))
	}
	s.verify(t, "windows (registry)", regDir)
	if b, _ := os.ReadFile(filepath.Join(regDir, "client.log")); !strings.Contains(string(b), "elsewhere.toml") {
		t.Errorf("the registry's config file was not the one used:\n%s", b)
	}

	// No broker: GOP11_BROKER wins over the files and names a closed
	// port. C_Initialize fails, the log says why, the console stays clean.
	closed := fmt.Sprintf("tls://127.0.0.1:%d", harness.FreePort(t))
	out, code = w.Run(t, []string{"GOP11_BROKER=" + closed}, exe, winPath(lib), "nobroker")
	if code != 0 || !strings.Contains(out, "no broker: C_Initialize answers CKR_DEVICE_ERROR") {
		t.Errorf("no broker: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "gop11:") {
		t.Errorf("the Windows client wrote to the console:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(regDir, "client.log")); !strings.Contains(string(b), "cannot reach the broker at "+closed) {
		t.Errorf("no broker: the client log does not say so:\n%s", harness.Tail(string(b), 5))
	}

	// A certificate of another CA: refused, and the log says so.
	other := harness.NewCA(t, "another CA").Issue("amplia.example.org", harness.CertOptions{DNS: []string{"amplia.example.org"}})
	s.client = other
	os.WriteFile(regConf, []byte(s.clientTOML(filepath.Join(regDir, "refused.log"), winPath)), 0o644)
	out, code = w.Run(t, nil, exe, winPath(lib), "nobroker")
	if code != 0 {
		t.Errorf("refused certificate: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(regDir, "refused.log")); !strings.Contains(string(b), "refused this client") {
		t.Errorf("refused certificate: the client log does not say so:\n%s", harness.Tail(string(b), 5))
	}

	if n := os.Getenv("GOP11_WINDOWS_BENCH"); n != "" {
		benchmark(t, w, s, exe, native, lib, n)
	}
}

// benchmark (make bench-windows) times ECDSA signatures from the Windows
// client under Wine, the Linux client and SoftHSM2 loaded directly, one
// after the other against the same token and broker. Logged, never
// asserted: speed lives in benchmarks.
func benchmark(t *testing.T, w *Wine, s *site, exe, native, lib, n string) {
	if _, err := strconv.Atoi(n); err != nil {
		t.Fatalf("GOP11_WINDOWS_BENCH=%q: want a count", n)
	}
	s.client = s.ca.Issue("amplia.example.org", harness.CertOptions{DNS: []string{"amplia.example.org"}})
	conf := filepath.Join(t.TempDir(), "bench.toml")
	os.WriteFile(conf, []byte(s.clientTOML(filepath.Join(t.TempDir(), "b.log"), func(p string) string { return p })), 0o600)
	wconf := filepath.Join(t.TempDir(), "wbench.toml")
	os.WriteFile(wconf, []byte(s.clientTOML(filepath.Join(t.TempDir(), "w.log"), winPath)), 0o644)
	per := func(out string) float64 {
		i := strings.Index(out, "signatures, ")
		if i < 0 {
			t.Fatalf("bench: %s", out)
		}
		var us float64
		fmt.Sscanf(out[i+len("signatures, "):], "%f", &us)
		return us
	}
	for round := 1; round <= 2; round++ {
		d, _ := run(t, s.tok.Env(), native, harness.SoftHSM, "bench", s.tok.Serial, userPIN, n)
		l, _ := run(t, []string{"GOP11_CONFIG=" + conf}, native, harness.Module(), "bench", s.tok.Serial, userPIN, n)
		wo, _ := w.Run(t, []string{"GOP11_CONFIG=" + winPath(wconf)}, exe, winPath(lib), "bench", s.tok.Serial, userPIN, n)
		dus, lus, wus := per(d), per(l), per(wo)
		t.Logf("bench round %d, %s ECDSA P-256 signatures, one thread: direct %.1f us, linux client over TLS %.1f us (%.2fx direct), windows client under Wine over TLS %.1f us (%.2fx direct, %.2fx the linux client)",
			round, n, dus, lus, lus/dus, wus, wus/dus, wus/lus)
	}
}

// TestWindowsConfigErrors: a unix:// broker is refused by the Windows
// client with a logged reason.
func TestWindowsConfigErrors(t *testing.T) {
	w := newWine(t)
	lib := dll(t)
	exe := compileWin(t, "tests/windows/p11win.c", "p11win.exe")
	dir := t.TempDir()
	// A unix:// broker is not for Windows: the config error is logged.
	conf := filepath.Join(dir, "unix.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("broker = \"unix:///run/gop11/gop11.sock\"\nlog = '%s'\n", winPath(filepath.Join(dir, "unix.log")))), 0o644)
	out, code := w.Run(t, []string{"GOP11_CONFIG=" + winPath(conf)}, exe, winPath(lib), "nobroker")
	if code == 0 || !strings.Contains(out, "rv 0x5, want 0x30") {
		t.Errorf("unix:// broker: exit %d, want C_Initialize CKR_GENERAL_ERROR\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "unix.log")); !strings.Contains(string(b), "this platform's client speaks tls:// only") {
		t.Errorf("unix:// broker: the log does not say why:\n%s", b)
	}

	// Without a log file the reason goes to OutputDebugString (Wine shows
	// it with +debugstr), not to the console.
	bare := filepath.Join(dir, "bare.toml")
	os.WriteFile(bare, []byte("broker = \"unix:///run/gop11/gop11.sock\"\n"), 0o644)
	out, _ = w.Run(t, []string{"GOP11_CONFIG=" + winPath(bare), "WINEDEBUG=+debugstr"}, exe, winPath(lib), "nobroker")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "gop11: gop11 client config:") && !strings.Contains(line, "OutputDebugString") {
			t.Errorf("the reason reached the console: %s", line)
		}
	}
	if !strings.Contains(out, "OutputDebugString") || !strings.Contains(out, "this platform's client speaks tls:// only") {
		t.Errorf("no log file: the reason did not go to OutputDebugString:\n%s", out)
	}
}
