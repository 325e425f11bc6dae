package core

import (
	"debug/elf"
	"slices"
	"strings"
	"testing"

	"github.com/gop11/gop11/tests/harness"
	"github.com/gop11/gop11/tests/headercheck"
)

// libgop11.so exports every function of include/pkcs11f.h plus the v3.0
// C_GetInterfaceList and C_GetInterface, and nothing else: no Go runtime
// or cgo symbol may leak into the application's namespace.
func TestSharedObjectExportsExactlyTheAPI(t *testing.T) {
	harness.RequireBuild(t)
	fns, err := headercheck.Functions(harness.Root() + "/include/pkcs11f.h")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(fns) // v3.0's list, C_GetInterfaceList and C_GetInterface included
	f, err := elf.Open(harness.Module())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF || elf.ST_BIND(s.Info) == elf.STB_LOCAL {
			continue
		}
		got = append(got, s.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			t.Errorf("missing export %s", w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			t.Errorf("extra export %s", g)
		}
	}
	if len(want) != 92 {
		t.Errorf("%d functions expected, want 92", len(want))
	}
	if t.Failed() {
		t.Logf("exports: %s", strings.Join(got, " "))
	}
}
