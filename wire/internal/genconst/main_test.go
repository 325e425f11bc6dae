package main

import (
	"bytes"
	"os"
	"testing"
)

func TestEval(t *testing.T) {
	known := map[string]uint64{"CKF_ARRAY_ATTRIBUTE": 0x40000000, "CKK_EC": 3}
	tests := []struct {
		expr string
		want uint64
	}{
		{"0x0UL", 0},
		{"0x1B5UL", 0x1B5},
		{"42", 42},
		{"0x80000000UL", 0x80000000},
		{"(~0UL)", ^uint64(0)},
		{"CKK_EC", 3},
		{"(CKF_ARRAY_ATTRIBUTE | 0x211UL)", 0x40000211},
		{"(1UL << 31)", 0x80000000},
	}
	for _, tt := range tests {
		got, err := eval(tt.expr, known)
		if err != nil || got != tt.want {
			t.Errorf("eval(%q) = %#x, %v; want %#x", tt.expr, got, err, tt.want)
		}
	}
	// Casts and minus are not in our header's grammar: an error, not a guess.
	for _, bad := range []string{"((unsigned long)-1L)", "", "(1UL", "UNKNOWN_NAME", "1UL 2UL", "1UL << 64", "\"text\""} {
		if v, err := eval(bad, known); err == nil {
			t.Errorf("eval(%q) = %#x, want an error", bad, v)
		}
	}
}

func TestParseHeader(t *testing.T) {
	src := []byte(`
#define GUARD_H 1
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#define CKK_EC                 0x03UL
#define CKK_ECDSA              CKK_EC /* deprecated */
#define CKA_SUB_PRIME_BITS     0x134UL
#  define TRUE CK_TRUE
#define CKA_WRAP_TEMPLATE      (CKF_ARRAY_ATTRIBUTE | 0x211UL)
`)
	if _, err := ParseHeader(src); err == nil {
		t.Fatal("CKA_WRAP_TEMPLATE before CKF_ARRAY_ATTRIBUTE: want an error")
	}
	if _, err := ParseHeader([]byte("#define CK_PTR *\n")); err == nil {
		t.Fatal("non-numeric CK_PTR: want an error")
	}
	src = append([]byte("#define CKF_ARRAY_ATTRIBUTE 0x40000000UL\n"), src...)
	got, err := ParseHeader(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Const{
		{Name: "CKF_ARRAY_ATTRIBUTE", Value: 0x40000000},
		{Name: "CKK_EC", Value: 3},
		{Name: "CKK_ECDSA", Value: 3, Alias: "CKK_EC", Deprecated: true},
		{Name: "CKA_SUB_PRIME_BITS", Value: 0x134},
		{Name: "CKA_WRAP_TEMPLATE", Value: 0x40000211},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d constants %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		got[i].Line = 0
		if got[i] != want[i] {
			t.Errorf("constant %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestZconstUpToDate is what make check-generate checks, runnable alone.
func TestZconstUpToDate(t *testing.T) {
	src, err := os.ReadFile("../../../include/pkcs11t.h")
	if err != nil {
		t.Fatal(err)
	}
	consts, err := ParseHeader(src)
	if err != nil {
		t.Fatal(err)
	}
	code, err := Render(consts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Render(consts)
	if err != nil || !bytes.Equal(code, again) {
		t.Fatal("two renders of the same header differ")
	}
	have, err := os.ReadFile("../../zconst.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, have) {
		t.Error("wire/zconst.go is stale: run go generate ./wire/...")
	}
}
