package harness

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Token is an initialised SoftHSM2 token whose files live in a test's
// temporary directory.
type Token struct {
	Dir    string // holds Conf and tokens/
	Conf   string // the private softhsm2.conf; see Env
	Label  string // token label
	PIN    string // user PIN
	SOPIN  string // security officer PIN
	Slot   string // slot ID in decimal, as pkcs11-dump and pkcs11-tool --slot want it
	Serial string // token serial number, from which SoftHSM2 derives Slot
}

// Env returns the environment that points SoftHSM2 at this token's
// configuration: SOFTHSM2_CONF=Conf.
func (tok *Token) Env() []string { return []string{"SOFTHSM2_CONF=" + tok.Conf} }

// URI returns the RFC 7512 URI naming this token, "pkcs11:token=LABEL".
func (tok *Token) URI() string { return "pkcs11:token=" + tok.Label }

// NewToken creates a SoftHSM2 token in t.TempDir(): a private
// softhsm2.conf (tokendir DIR/tokens, file object store, log level ERROR)
// and `softhsm2-util --init-token --free`. PINs are handed to
// softhsm2-util on its command line, so tests should use test-only PINs.
func NewToken(t testing.TB, label, userPIN, soPIN string) *Token {
	t.Helper()
	Require(t, "softhsm2-util")
	dir := t.TempDir()
	tok := &Token{Dir: dir, Conf: filepath.Join(dir, "softhsm2.conf")}
	if err := os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeConf(t, tok)
	return tok.AddToken(t, label, userPIN, soPIN)
}

func writeConf(t testing.TB, tok *Token) {
	t.Helper()
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		filepath.Join(tok.Dir, "tokens"))
	if err := os.WriteFile(tok.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// AddToken initialises one more token in the same directory and
// configuration as tok, so that one module (or one broker) started with
// tok.Env() sees both. The new token gets its own slot.
func (tok *Token) AddToken(t testing.TB, label, userPIN, soPIN string) *Token {
	t.Helper()
	nt := &Token{Dir: tok.Dir, Conf: tok.Conf, Label: label, PIN: userPIN, SOPIN: soPIN}
	res := RunCmd(t, Command{
		Env:  nt.Env(),
		Name: "softhsm2-util",
		Args: []string{"--init-token", "--free", "--label", label, "--pin", userPIN, "--so-pin", soPIN},
	})
	if res.Code != 0 {
		t.Fatalf("softhsm2-util --init-token --label %s: exit %d\n%s%s", label, res.Code, res.Stdout, res.Stderr)
	}
	nt.lookupSlot(t)
	return nt
}

// Clone copies every token of tok's directory into a new t.TempDir() with
// its own configuration and returns the copy of tok. The copy is the same
// token in every way a client can see: label, serial number, slot ID, PINs,
// objects, key material. Two clones therefore let one command run against
// SoftHSM2 directly and through the proxy from the same starting state,
// with deterministic mechanisms (RSA PKCS #1 v1.5, AES-CBC, AES key wrap,
// ECDH) giving byte-identical results.
//
// Clone only while no process has the token open: SoftHSM2 keeps state in
// memory and writes files as it goes.
func (tok *Token) Clone(t testing.TB) *Token {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(tok.Dir, "tokens")
	dst := filepath.Join(dir, "tokens")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		return copyFile(path, target)
	})
	if err != nil {
		t.Fatalf("clone token %s: %v", tok.Label, err)
	}
	c := *tok
	c.Dir = dir
	c.Conf = filepath.Join(dir, "softhsm2.conf")
	writeConf(t, &c)
	return &c
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lookupSlot fills in Slot and Serial from `softhsm2-util --show-slots`,
// which prints one block per slot:
//
//	Slot 1293558163
//	    ...
//	    Token info:
//	        Serial number:    8f4628fccd1a2193
//	        Label:            tokA
func (tok *Token) lookupSlot(t testing.TB) {
	t.Helper()
	res := RunCmd(t, Command{Env: tok.Env(), Name: "softhsm2-util", Args: []string{"--show-slots"}})
	if res.Code != 0 {
		t.Fatalf("softhsm2-util --show-slots: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	slot, serial := "", ""
	for _, line := range strings.Split(res.Stdout, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Slot "):
			slot, serial = strings.TrimSpace(strings.TrimPrefix(line, "Slot ")), ""
		case strings.HasPrefix(trimmed, "Serial number:"):
			serial = strings.TrimSpace(strings.TrimPrefix(trimmed, "Serial number:"))
		case strings.HasPrefix(trimmed, "Label:"):
			// Labels are blank-padded to 32 bytes.
			if strings.TrimSpace(strings.TrimPrefix(trimmed, "Label:")) == tok.Label && slot != "" {
				tok.Slot, tok.Serial = slot, serial
				return
			}
		}
	}
	t.Fatalf("token %q not found in softhsm2-util --show-slots:\n%s", tok.Label, res.Stdout)
}
