// Package vendormech checks that a vendor mechanism declared by
// [[mechanism]] (broker.toml and client.toml) carries its parameter
// struct to the vendor module byte for byte, and that an undeclared one
// is still refused. The vendor module is the project's fault-injection
// module, whose echo mechanism answers C_Digest with the parameter it got.
package vendormech

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

const decl = "\n[[mechanism]]\ntype = 0x80000f11\nname = \"faultmod echo\"\nlayout = \"struct(ulong, bytes)\"\n"

func TestVendorMechanism(t *testing.T) {
	bin := harness.CompileC(t, "tests/vendormech/vendormech.c", "vendormech")
	fault := harness.FaultModule(t)
	tok := harness.NewToken(t, "vendor", "1234", "123456")
	// The tag (8 bytes, little-endian) then the data, as faultmod echoes them.
	wantLine := "digest 0x0 0807060504030201" + hex.EncodeToString([]byte("gop11 vendor struct"))

	direct, stderr, code := harness.Run(t, tok.Env(), bin, fault)
	// SoftHSM2 answers the parameterless vendor type itself.
	if code != 0 || !strings.Contains(direct, wantLine) || !strings.Contains(direct, "bare 0x70") {
		t.Fatalf("directly: exit %d, want %q:\n%s%s", code, wantLine, direct, stderr)
	}

	run := func(t *testing.T, brokerDecl, clientDecl string) (string, string) {
		t.Helper()
		cfg := "listen = [\"unix://%SOCK%\"]\n" + brokerDecl +
			harness.ModuleTOML("fault", fault, "process", "", map[string]string{"SOFTHSM2_CONF": tok.Conf}) +
			harness.TokenTOML("fault", tok.URI(), 1) + "\n[[client]]\nname = \"all\"\nuids = [0]\n"
		b := harness.StartConfigBroker(t, cfg, nil)
		dir := t.TempDir()
		conf, logPath := filepath.Join(dir, "client.toml"), filepath.Join(dir, "module.log")
		if err := os.WriteFile(conf, []byte("broker = \"unix://"+b.Sock+"\"\n"+clientDecl), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := harness.Run(t, []string{"GOP11_CONFIG=" + conf, "GOP11_LOG=" + logPath}, bin, harness.Module())
		if code != 0 {
			t.Fatalf("through gop11: exit %d\n%s%s", code, out, stderr)
		}
		log, _ := os.ReadFile(logPath)
		return out, string(log)
	}

	t.Run("declared", func(t *testing.T) {
		out, _ := run(t, decl, decl)
		if out != direct {
			t.Errorf("through gop11:\n%s\ndirectly:\n%s", out, direct)
		}
	})
	t.Run("client does not declare it", func(t *testing.T) {
		out, log := run(t, decl, "")
		if !strings.Contains(out, "bare 0x70") { // CKR_MECHANISM_INVALID, from the module
			t.Errorf("a vendor mechanism without a parameter: got %q, want the module's bare 0x70", out)
		}
		if !strings.Contains(out, "init 0x71") { // CKR_MECHANISM_PARAM_INVALID
			t.Errorf("got %q, want init 0x71 (CKR_MECHANISM_PARAM_INVALID)", out)
		}
		if !strings.Contains(log, "unknown layout refused") {
			t.Errorf("the module log does not say why:\n%s", log)
		}
	})
	t.Run("broker does not declare it", func(t *testing.T) {
		out, _ := run(t, "", decl)
		if !strings.Contains(out, "init 0x71") {
			t.Errorf("got %q, want init 0x71 (CKR_MECHANISM_PARAM_INVALID)", out)
		}
	})
	t.Run("declared otherwise", func(t *testing.T) {
		other := strings.Replace(decl, "struct(ulong, bytes)", "struct(ulong, bool)", 1)
		out, _ := run(t, other, decl)
		if !strings.Contains(out, "init 0x71") {
			t.Errorf("got %q, want init 0x71 (CKR_MECHANISM_PARAM_INVALID)", out)
		}
	})
}
