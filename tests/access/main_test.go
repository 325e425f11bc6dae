// Package access tests the broker's access control from the outside: a
// config-mode gop11-broker in front of SoftHSM2 tokens in temp dirs, and
// real clients (pkcs11-tool, the C client p11flow, and a Go client that
// loads build/libgop11.so) run as real users made for the test, or over
// mutual TLS with certificates made for the test.
//
// The Go client is this test binary run again: TestMain sees
// GOP11_ACCESS_SCRIPT and, instead of the tests, runs the JSON script it
// names (script_test.go) and prints what each step answered.
package access

import (
	"os"
	"testing"

	"github.com/gop11/gop11/tests/harness"
)

// The token PINs: distinctive, so that a search of every log for them
// finds only a leak.
const (
	userPIN = "kV9-access-PIN-3141"
	soPIN   = "kV9-access-SO-2718"
	// wrongPIN is what applications send in place of a PIN they do not
	// know (Amplia's Pin= placeholder, pkcs11-tool --pin).
	wrongPIN = "0000"
)

func TestMain(m *testing.M) {
	if os.Getenv(scriptEnv) != "" {
		os.Exit(scriptMain())
	}
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// requireRoot: the tests make users, switch to them and read the broker's
// root-owned PIN files.
func requireRoot(t *testing.T) {
	t.Helper()
	harness.RequireRoot(t, "tests/access makes users with useradd, runs clients as them with setpriv, and reads root-owned PIN files")
}
