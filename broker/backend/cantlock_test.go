//go:build cgo

package backend

import (
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/wire"
)

// TestCantLock loads testdata/cantlock.c, a module that answers
// CKF_OS_LOCKING_OK with CKR_CANT_LOCK: Open must initialize it without
// flags and serialize every call.
func TestCantLock(t *testing.T) {
	harness.Require(t, "cc")
	so := filepath.Join(t.TempDir(), "cantlock.so")
	out, err := exec.Command("cc", "-shared", "-fPIC", "-O2", "-I../../include",
		"-o", so, "testdata/cantlock.c").CombinedOutput()
	if err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	m, err := Open(so, Options{Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()
	if !m.Serialized() {
		t.Fatal("a module that cannot lock is not serialized")
	}
	info := try(m.GetInfo(t.Context(), &wire.GetInfoRequest{})).must(t).Info
	if info.ManufacturerID != "gop11 test" || info.LibraryDescription != "cannot lock" {
		t.Fatalf("GetInfo = %+v", info)
	}
	// The module reports the most callers it saw inside at once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				r, err := m.GenerateRandom(t.Context(), &wire.GenerateRandomRequest{Session: 1, RandomLen: 1})
				if err != nil {
					t.Error(err)
					return
				}
				if r.RandomData[0] != 1 {
					t.Errorf("%d calls inside the module at once", r.RandomData[0])
					return
				}
			}
		}()
	}
	wg.Wait()
	_, err = m.Login(t.Context(), &wire.LoginRequest{Session: 1, UserType: wire.CKU_USER, Pin: wire.PIN("1")})
	wantRV(t, err, wire.CKR_FUNCTION_NOT_SUPPORTED)
}
