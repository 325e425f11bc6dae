// Package install tests make install and make uninstall into a DESTDIR:
// every file, its mode and content, the systemd unit with systemd-analyze,
// and the p11-kit module config with p11-kit list-modules in front of a
// running broker.
package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// install runs make target in the repository with DESTDIR=dest PREFIX=/usr.
func makeIn(t *testing.T, dest, target string) string {
	t.Helper()
	r := harness.RunCmd(t, harness.Command{Name: "make", Args: []string{"-s", target, "DESTDIR=" + dest, "PREFIX=/usr"}, Dir: harness.Root()})
	if r.Code != 0 {
		t.Fatalf("make %s DESTDIR=%s: exit %d\n%s%s", target, dest, r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout + r.Stderr
}

// readable makes a temp dir that another user can read (p11-kit reads
// user configs only for users other than root).
func readable(t *testing.T, pattern string) string {
	t.Helper()
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	os.Chmod(d, 0o755)
	return d
}

func multiarch(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("gcc", "-print-multiarch").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("gcc -print-multiarch: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestInstall(t *testing.T) {
	harness.RequireBuild(t)
	harness.Require(t, "make")
	dest := readable(t, "gop11-destdir-")
	makeIn(t, dest, "install")
	p11dir := "/usr/lib/" + multiarch(t) + "/pkcs11"

	files := []struct {
		path string
		mode os.FileMode
		has  []string
	}{
		{"/usr/bin/gop11-broker", 0o755, nil},
		{"/usr/bin/gop11", 0o755, nil},
		{p11dir + "/libgop11.so", 0o644, nil},
		{"/usr/lib/systemd/system/gop11-broker.service", 0o644, []string{
			"ExecStart=/usr/bin/gop11-broker --config /etc/gop11/broker.toml\n",
			"ExecReload=/bin/kill -HUP $MAINPID\n", "User=gop11\n", "RuntimeDirectory=gop11\n",
			"NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "ProtectHome=yes\n", "PrivateTmp=yes\n",
			"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", "MemoryDenyWriteExecute=yes\n", "LoadCredential="}},
		{"/usr/lib/sysusers.d/gop11.conf", 0o644, []string{"u gop11 - "}},
		{"/usr/share/p11-kit/modules/gop11.module", 0o644, []string{"module: " + p11dir + "/libgop11.so\n", "critical: no\n"}},
		{"/etc/gop11/broker.toml", 0o644, []string{`listen = ["unix:///run/gop11/gop11.sock"]`, `socket_mode = "0660"`}},
		{"/etc/gop11/client.toml", 0o644, []string{`broker = "unix:///run/gop11/gop11.sock"`}},
		{"/etc/gop11/broker.example.toml", 0o644, []string{"[[module]]", "[[group]]"}},
	}
	for _, f := range files {
		fi, err := os.Stat(dest + f.path)
		if err != nil {
			t.Errorf("not installed: %s", f.path)
			continue
		}
		if fi.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, fi.Mode().Perm(), f.mode)
		}
		data, _ := os.ReadFile(dest + f.path)
		for _, s := range f.has {
			if !strings.Contains(string(data), s) {
				t.Errorf("%s lacks %q", f.path, s)
			}
		}
	}
	if data, _ := os.ReadFile(dest + "/usr/lib/systemd/system/gop11-broker.service"); strings.Contains(string(data), "@BINDIR@") {
		t.Errorf("the unit still holds a placeholder:\n%s", data)
	}

	t.Run("etc files kept", func(t *testing.T) {
		conf := dest + "/etc/gop11/broker.toml"
		mine := []byte("# edited by the administrator\n")
		os.WriteFile(conf, mine, 0o644)
		out := makeIn(t, dest, "install")
		if data, _ := os.ReadFile(conf); string(data) != string(mine) {
			t.Errorf("a second make install replaced the edited broker.toml")
		}
		if !strings.Contains(out, "/etc/gop11/broker.toml exists: left as it is") {
			t.Errorf("make install does not say it kept broker.toml:\n%s", out)
		}
	})

	t.Run("systemd-analyze", func(t *testing.T) {
		harness.Require(t, "systemd-analyze")
		// verify checks that ExecStart's program exists: a copy of the
		// unit naming the DESTDIR's.
		unit := filepath.Join(t.TempDir(), "gop11-broker.service")
		data, _ := os.ReadFile(dest + "/usr/lib/systemd/system/gop11-broker.service")
		os.WriteFile(unit, []byte(strings.ReplaceAll(string(data), "/usr/bin/gop11-broker", dest+"/usr/bin/gop11-broker")), 0o644)
		if out, stderr, code := harness.Run(t, nil, "systemd-analyze", "verify", unit); code != 0 {
			t.Errorf("systemd-analyze verify: exit %d\n%s%s", code, out, stderr)
		}
		out, stderr, code := harness.Run(t, nil, "systemd-analyze", "security", "--offline=true", unit)
		m := regexp.MustCompile(`Overall exposure level for gop11-broker.service: ([0-9.]+)`).FindStringSubmatch(out + stderr)
		if code != 0 || m == nil {
			t.Fatalf("systemd-analyze security: exit %d\n%s%s", code, out, stderr)
		}
		t.Logf("systemd-analyze security: exposure %s", m[1])
		if level, _ := strconv.ParseFloat(m[1], 64); level > 2.0 {
			t.Errorf("exposure level %s: want the hardening to keep it at 2.0 or below", m[1])
		}
	})

	t.Run("p11-kit list-modules", func(t *testing.T) {
		harness.Require(t, "p11-kit")
		harness.Require(t, "setpriv")
		tok := harness.NewToken(t, "installed", "1234", "5678")
		b := harness.StartConfigBroker(t, `listen = ["unix://%SOCK%"]
socket_mode = "0666"`+harness.ModuleTOML("softhsm", harness.SoftHSM, "shared", "", map[string]string{"SOFTHSM2_CONF": tok.Conf})+
			harness.TokenTOML("softhsm", "pkcs11:token=installed", 1), nil)
		// p11-kit reads a user's module configs (not root's): the
		// installed gop11.module, its library path under the DESTDIR.
		home := readable(t, "gop11-home-")
		mods := filepath.Join(home, ".config", "pkcs11", "modules")
		os.MkdirAll(mods, 0o755)
		data, _ := os.ReadFile(dest + "/usr/share/p11-kit/modules/gop11.module")
		os.WriteFile(filepath.Join(mods, "gop11.module"), []byte(strings.ReplaceAll(string(data), "module: /", "module: "+dest+"/")), 0o644)
		for d := mods; d != home; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		out, stderr, code := harness.Run(t, []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "GOP11_BROKER=unix://" + b.Sock},
			"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "p11-kit", "list-modules")
		if code != 0 || !regexp.MustCompile(`(?m)^gop11: .*libgop11\.so\n(    .*\n)*    token: installed\n`).MatchString(out) {
			t.Errorf("p11-kit list-modules with the installed module config: exit %d, want gop11 with the token \"installed\":\n%s\n%s", code, out, harness.Tail(stderr, 5))
		}
	})

	t.Run("uninstall", func(t *testing.T) {
		out := makeIn(t, dest, "uninstall")
		for _, f := range files {
			_, err := os.Stat(dest + f.path)
			kept := f.path == "/etc/gop11/broker.toml" || f.path == "/etc/gop11/client.toml"
			if kept != (err == nil) {
				t.Errorf("after make uninstall, %s: present %v, want %v", f.path, err == nil, kept)
			}
		}
		if !strings.Contains(out, "/etc/gop11 is left") {
			t.Errorf("make uninstall does not say /etc/gop11 is left:\n%s", out)
		}
	})
}
