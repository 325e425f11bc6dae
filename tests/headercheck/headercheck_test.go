package headercheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// specFunctions is CK_FUNCTION_LIST_3_0 of PKCS #11 v3.0, in order: the
// 68 of v2.40's CK_FUNCTION_LIST, then v3.0's 24.
var specFunctions = []string{
	"C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList",
	"C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList",
	"C_GetMechanismInfo", "C_InitToken", "C_InitPIN", "C_SetPIN",
	"C_OpenSession", "C_CloseSession", "C_CloseAllSessions", "C_GetSessionInfo",
	"C_GetOperationState", "C_SetOperationState", "C_Login", "C_Logout",
	"C_CreateObject", "C_CopyObject", "C_DestroyObject", "C_GetObjectSize",
	"C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit",
	"C_FindObjects", "C_FindObjectsFinal",
	"C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal",
	"C_DecryptInit", "C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal",
	"C_DigestInit", "C_Digest", "C_DigestUpdate", "C_DigestKey", "C_DigestFinal",
	"C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal",
	"C_SignRecoverInit", "C_SignRecover",
	"C_VerifyInit", "C_Verify", "C_VerifyUpdate", "C_VerifyFinal",
	"C_VerifyRecoverInit", "C_VerifyRecover",
	"C_DigestEncryptUpdate", "C_DecryptDigestUpdate", "C_SignEncryptUpdate",
	"C_DecryptVerifyUpdate",
	"C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey", "C_DeriveKey",
	"C_SeedRandom", "C_GenerateRandom",
	"C_GetFunctionStatus", "C_CancelFunction", "C_WaitForSlotEvent",
	"C_GetInterfaceList", "C_GetInterface", "C_LoginUser", "C_SessionCancel",
	"C_MessageEncryptInit", "C_EncryptMessage", "C_EncryptMessageBegin", "C_EncryptMessageNext", "C_MessageEncryptFinal",
	"C_MessageDecryptInit", "C_DecryptMessage", "C_DecryptMessageBegin", "C_DecryptMessageNext", "C_MessageDecryptFinal",
	"C_MessageSignInit", "C_SignMessage", "C_SignMessageBegin", "C_SignMessageNext", "C_MessageSignFinal",
	"C_MessageVerifyInit", "C_VerifyMessage", "C_VerifyMessageBegin", "C_VerifyMessageNext", "C_MessageVerifyFinal",
}

// p11kitWrongValues are constants whose value in Debian 12's p11-kit
// 0.24 header differs from PKCS #11 v2.40 (and from p11-kit 0.25, which
// fixed them). Ours follow the spec. p11-kit may have either value.
var p11kitWrongValues = map[string]uint64{
	"CKR_EXCEEDED_MAX_ITERATIONS": 0x1C0, // spec 0x1B5
	"CKR_FIPS_SELF_TEST_FAILED":   0x1C1, // spec 0x1B6
	"CKR_LIBRARY_LOAD_FAILED":     0x1C2, // spec 0x1B7
	"CKR_PIN_TOO_WEAK":            0x1C3, // spec 0x1B8
	"CKR_PUBLIC_KEY_INVALID":      0x1C4, // spec 0x1B9
}

// p11kitOnly are names p11-kit defines that PKCS #11 v2.40 does not, so
// our header leaves them out.
var p11kitOnly = map[string]string{
	"CKC_OPENPGP":   "p11-kit vendor extension (CKC_VENDOR_DEFINED | 0x504750)",
	"CK_OTP_FORMAT": "p11-kit's name for CK_OTP_PARAM type 7; the spec calls it CK_OTP_OUTPUT_FORMAT, which we define",
	// CK_OTP_MECHANISM_INFO: p11-kit declares it (pointer to an undefined
	// struct ck_otp_mechanism_info); the spec has no such type.
	"CK_OTP_MECHANISM_INFO":     "p11-kit typedef of an incomplete struct, not in the spec",
	"CK_OTP_MECHANISM_INFO_PTR": "p11-kit typedef of an incomplete struct, not in the spec",
}

// platformMacros are our pkcs11.h's CK-prefixed object-like macros that
// are not constants.
var platformMacros = map[string]bool{"CK_PTR": true}

// v240 is the v2.40 part of our function list (CK_FUNCTION_LIST), which
// the v2.40 references are compared with; TestFunctionsParse checks the rest.
func v240(fs []string) []string { return fs[:min(len(fs), 68)] }

func TestFunctionsParse(t *testing.T) {
	got, err := Functions(HeaderPath("pkcs11f.h"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 92 {
		t.Errorf("include/pkcs11f.h lists %d functions, want 92", len(got))
	}
	if i := firstDiff(got, specFunctions); i >= 0 {
		t.Errorf("include/pkcs11f.h differs from the v3.0 function list at #%d: got %s, want %s",
			i, at(got, i), at(specFunctions, i))
	}
}

func TestFunctionsParseErrors(t *testing.T) {
	entry := func(name string) string {
		return "CK_PKCS11_FUNCTION_INFO(" + name + ")\n#ifdef CK_NEED_ARG_LIST\n(\n\tCK_VOID_PTR p\n);\n#endif\n"
	}
	tests := []struct {
		name, src, want string
	}{
		{"duplicate", entry("C_A") + entry("C_A"), "listed twice"},
		{"no ifdef", "CK_PKCS11_FUNCTION_INFO(C_A)\n(CK_VOID_PTR p);\n", "want #ifdef"},
		{"no endif", "CK_PKCS11_FUNCTION_INFO(C_A)\n#ifdef CK_NEED_ARG_LIST\n(CK_VOID_PTR p);\n", "want #endif"},
		{"unterminated args", "CK_PKCS11_FUNCTION_INFO(C_A)\n#ifdef CK_NEED_ARG_LIST\n(CK_VOID_PTR p\n#endif\n", "does not end"},
		{"empty", "/* nothing */\n", "no CK_PKCS11_FUNCTION_INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.h")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Functions(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Functions() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "ok.h")
	if err := os.WriteFile(path, []byte(entry("C_A")+entry("C_B")), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Functions(path); err != nil || !slices.Equal(got, []string{"C_A", "C_B"}) {
		t.Errorf("Functions() = %v, %v; want [C_A C_B]", got, err)
	}
}

var p11kitMemberRE = regexp.MustCompile(`(?m)^\s*CK_(C_[A-Za-z0-9_]+)\s+(C_[A-Za-z0-9_]+)\s*;`)

// TestFunctionsMatchP11Kit compares pkcs11f.h with the members of
// p11-kit's struct ck_function_list. TestStructs then checks that every
// member sits at the same offset in both compilations.
func TestFunctionsMatchP11Kit(t *testing.T) {
	requireP11Kit(t)
	src, err := os.ReadFile(p11kitHeader)
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	start := strings.Index(body, "struct ck_function_list\n{")
	if start < 0 {
		t.Fatalf("%s: struct ck_function_list not found", p11kitHeader)
	}
	end := strings.Index(body[start:], "};")
	var theirs []string
	for _, m := range p11kitMemberRE.FindAllStringSubmatch(body[start:start+end], -1) {
		if m[1] != m[2] {
			t.Errorf("p11-kit: member %s has type CK_%s", m[2], m[1])
		}
		theirs = append(theirs, m[2])
	}
	got, err := Functions(HeaderPath("pkcs11f.h"))
	if err != nil {
		t.Fatal(err)
	}
	got = v240(got)
	for _, name := range theirs {
		if !slices.Contains(got, name) {
			t.Errorf("p11-kit's function list has %s; include/pkcs11f.h does not", name)
		}
	}
	for _, name := range got {
		if !slices.Contains(theirs, name) {
			t.Errorf("include/pkcs11f.h has %s; p11-kit's function list does not", name)
		}
	}
	if i := firstDiff(got, theirs); i >= 0 {
		t.Errorf("function order differs at #%d: ours %s, p11-kit %s", i, at(got, i), at(theirs, i))
	}
	if !t.Failed() {
		t.Logf("function list: %d functions, same names and order as p11-kit", len(got))
	}
}

// known lists the expected differences between ours and a reference.
type known struct {
	// wrongValues: constants whose reference value is wrong; the
	// reference may also have the right one.
	wrongValues map[string]uint64
	// refOnly: names the reference defines and we leave out, and why.
	refOnly map[string]string
	// oursOnly: names we define that the reference lacks, and why. If
	// nil, such names are only reported.
	oursOnly map[string]string
}

// v30Additions are the names we take from PKCS #11 v3.0 (or, for
// CKM_DSA_FIPS_G_GEN, from v2.40's text where its header file lacks it).
var v30Additions = map[string]string{
	"CKK_EC_EDWARDS":              "v3.0 (p11-kit has it)",
	"CKM_EC_EDWARDS_KEY_PAIR_GEN": "v3.0 (p11-kit has it)",
	"CKM_EDDSA":                   "v3.0 (p11-kit has it)",
	"CKM_DSA_FIPS_G_GEN":          "v2.40 mechanism text, v3.0 header value",
	"CKF_INTERFACE_FORK_SAFE":     "v3.0 interfaces",
	"CK_INTERFACE":                "v3.0 interfaces",
	"CK_INTERFACE_PTR":            "v3.0 interfaces",
	"CK_INTERFACE_PTR_PTR":        "v3.0 interfaces",
	"CK_C_GetInterface":           "v3.0 interfaces",
	"CK_C_GetInterfaceList":       "v3.0 interfaces",
	"CK_DATE_PTR":                 "p11-kit has it; the OASIS v2.40 header does not",
}

var references = []struct {
	ref   *reference
	known known
}{
	{p11kit, known{wrongValues: p11kitWrongValues, refOnly: p11kitOnly}},
	{oasis, known{oursOnly: v30Additions}},
	{oasisWin64, known{oursOnly: v30Additions}},
}

// forEachReference runs check as one subtest per reference header set.
func forEachReference(t *testing.T, check func(t *testing.T, c *checked, k known)) {
	for _, r := range references {
		t.Run(r.ref.name, func(t *testing.T) {
			check(t, r.ref.probe(t), r.known)
		})
	}
}

// v30Section is where pkcs11t.h's block of v3.0 additions begins: every
// name defined after it is v3.0's.
const v30Section = "v3.0: message-based functions, session cancel, new mechanisms"

// isV30 reports whether name is one of our v3.0 additions the reference
// (v2.40) lacks: defined in pkcs11t.h's v3.0 block, the function list of
// v3.0, or a v3.0 function's pointer type.
func isV30(t *testing.T, name string) bool {
	t.Helper()
	src, err := os.ReadFile(HeaderPath("pkcs11t.h"))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(src), v30Section)
	if i < 0 {
		t.Fatalf("pkcs11t.h: %q not found", v30Section)
	}
	if regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(string(src[i:])) {
		return true
	}
	if strings.HasPrefix(name, "CK_FUNCTION_LIST_3_0") {
		return true
	}
	fns, err := Functions(HeaderPath("pkcs11f.h"))
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(fns[len(v240(fns)):], strings.TrimPrefix(name, "CK_"))
}

// oursOnlyOK reports whether ours may define name without the reference.
func (k known) oursOnlyOK(t *testing.T, what, name string) {
	t.Helper()
	if k.oursOnly == nil {
		return
	}
	if _, ok := k.oursOnly[name]; !ok && !isV30(t, name) {
		t.Errorf("ours defines %s %s; the reference does not, and it is not a listed v3.0 addition", what, name)
	}
}

func TestConstants(t *testing.T) {
	forEachReference(t, func(t *testing.T, c *checked, k known) {
		// The text parse must see every constant the compiler sees.
		for name := range c.our.macros {
			if !platformMacros[name] && !slices.Contains(c.ours.consts, name) {
				t.Errorf("our headers define %s = %s, but the pkcs11t.h parse missed it", name, c.our.macros[name])
			}
		}

		var same, oursOnly, wrong []string
		for _, name := range c.ours.consts {
			v := c.our.consts[name]
			rv, ok := c.ref.consts[name]
			switch {
			case !ok:
				oursOnly = append(oursOnly, name)
				k.oursOnlyOK(t, "constant", name)
			case rv == v:
				same = append(same, name)
			case k.wrongValues[name] == rv && rv != 0:
				wrong = append(wrong, name)
			default:
				t.Errorf("%s: ours %#x, %s %#x", name, v, c.ref.name, rv)
			}
		}
		for _, name := range c.refConsts {
			if _, ok := c.our.consts[name]; ok {
				continue
			}
			if why, ok := k.refOnly[name]; ok {
				t.Logf("only in %s, left out on purpose: %s (%s)", c.ref.name, name, why)
				continue
			}
			t.Errorf("%s defines %s = %s (%#x); include/pkcs11t.h does not", c.ref.name, name, c.ref.macros[name], c.ref.consts[name])
		}
		for name := range k.wrongValues {
			if _, ok := c.our.consts[name]; !ok {
				t.Errorf("wrongValues lists %s, which we do not define", name)
			}
		}
		t.Logf("constants: %d in include/pkcs11t.h, %d in %s; %d equal, %d where %s has a known wrong value %v",
			len(c.ours.consts), len(c.refConsts), c.ref.name, len(same), len(wrong), c.ref.name, wrong)
		t.Logf("only in ours (%d): %s", len(oursOnly), strings.Join(oursOnly, " "))
	})
}

func TestStructs(t *testing.T) {
	forEachReference(t, func(t *testing.T, c *checked, k known) {
		var compared, members int
		var oursOnly []string
		for _, st := range c.ours.structs {
			o := c.our.structs[st]
			r, ok := c.ref.structs[st]
			if !ok {
				oursOnly = append(oursOnly, st)
				k.oursOnlyOK(t, "struct", st)
				continue
			}
			compared++
			if o != r {
				t.Errorf("%s: ours size %d align %d, %s size %d align %d", st, o.size, o.align, c.ref.name, r.size, r.align)
			}
			for _, m := range c.ours.members[st] {
				key := st + "." + m
				om, rm := c.our.members[key], c.ref.members[key]
				members++
				if om != rm {
					t.Errorf("%s: ours offset %d size %d, %s offset %d size %d", key, om.offset, om.size, c.ref.name, rm.offset, rm.size)
				}
			}
		}
		for name, kind := range c.ref.typedefs {
			if kind != "struct" || slices.Contains(c.ours.structs, name) {
				continue
			}
			if why, ok := k.refOnly[name]; ok {
				t.Logf("only in %s, left out on purpose: %s (%s)", c.ref.name, name, why)
				continue
			}
			t.Errorf("%s defines struct type %s; include/pkcs11t.h does not", c.ref.name, name)
		}
		fl := c.our.structs["CK_FUNCTION_LIST"]
		// The version, padded to a pointer's alignment except where packed.
		first := c.our.members["CK_FUNCTION_LIST.C_Initialize"]
		if want := first.offset + first.size*68; fl.size != want || first.offset != map[bool]uint64{false: 8, true: 2}[c.windows] {
			t.Errorf("sizeof(CK_FUNCTION_LIST) = %d, C_Initialize at %d; want version + 68 pointers = %d", fl.size, first.offset, want)
		}
		slices.Sort(oursOnly)
		t.Logf("structs: %d in ours, %d compared with %s (%d members, each offset and size)",
			len(c.ours.structs), compared, c.ref.name, members)
		t.Logf("only in ours (%d): %s", len(oursOnly), strings.Join(oursOnly, " "))
	})
}

func TestTypedefs(t *testing.T) {
	forEachReference(t, func(t *testing.T, c *checked, k known) {
		for _, sc := range c.ours.scalars {
			r, ok := c.ref.scalars[sc]
			if !ok {
				continue
			}
			if o := c.our.scalars[sc]; o != r {
				t.Errorf("%s: ours size %d signed %v, %s size %d signed %v", sc, o.size, o.signed, c.ref.name, r.size, r.signed)
			}
		}
		long, abi := uint64(8), "LP64"
		if c.windows {
			long, abi = 4, "Win64: LLP64"
		}
		for _, want := range []struct {
			name   string
			size   uint64
			signed bool
		}{
			{"CK_BYTE", 1, false}, {"CK_BBOOL", 1, false}, {"CK_UTF8CHAR", 1, false},
			{"CK_ULONG", long, false}, {"CK_LONG", long, true}, {"CK_RV", long, false},
		} {
			if got := c.our.scalars[want.name]; got.size != want.size || got.signed != want.signed {
				t.Errorf("%s: size %d signed %v, want size %d signed %v (%s)", want.name, got.size, got.signed, want.size, want.signed, abi)
			}
		}
		// Every type name the reference offers must exist in ours, so
		// code written against it compiles against ours.
		var missing int
		for name, kind := range c.ref.typedefs {
			if _, ok := c.our.typedefs[name]; !ok {
				if _, skip := k.refOnly[name]; !skip {
					t.Errorf("%s has %s typedef %s; our headers do not", c.ref.name, kind, name)
					missing++
				}
			}
		}
		for name := range c.our.typedefs {
			if _, ok := c.ref.typedefs[name]; !ok {
				k.oursOnlyOK(t, "typedef", name)
			}
		}
		t.Logf("typedefs: %d in ours, %d in %s, %d of those missing from ours; %d scalar types compared by size and signedness",
			len(c.our.typedefs), len(c.ref.typedefs), c.ref.name, missing, len(c.ref.scalars))
	})
}

// TestFunctionsMatchOASIS compares pkcs11f.h with the OASIS v2.40 one,
// which follows the same convention.
func TestFunctionsMatchOASIS(t *testing.T) {
	theirs, err := Functions(filepath.Join(oasisDir(t), "pkcs11f.h"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Functions(HeaderPath("pkcs11f.h"))
	if err != nil {
		t.Fatal(err)
	}
	got = v240(got)
	if i := firstDiff(got, theirs); i >= 0 {
		t.Errorf("function list differs from OASIS v2.40 at #%d: ours %s, OASIS %s", i, at(got, i), at(theirs, i))
	}
}

// TestHeadersStrict compiles our pkcs11.h alone under strict warnings,
// as C99, C11 and C++, the ways module/ and its users include it.
func TestHeadersStrict(t *testing.T) {
	gcc := requireGCC(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "strict.c")
	if err := os.WriteFile(src, []byte(`#include "pkcs11.h"
CK_DEFINE_FUNCTION(CK_RV, C_GetFunctionList)(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	static CK_FUNCTION_LIST list = {{2, 40}, C_Initialize};
	*ppFunctionList = &list;
	return CKR_OK;
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	inc := "-I" + filepath.Dir(HeaderPath("pkcs11.h"))
	for _, std := range [][]string{
		{"-std=c99", "-pedantic"},
		{"-std=c11", "-pedantic"},
		{"-x", "c++", "-std=c++11"},
	} {
		t.Run(strings.Join(std, " "), func(t *testing.T) {
			args := append([]string{inc, "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers", "-c", "-o", os.DevNull}, std...)
			if std[0] == "-x" {
				if _, err := exec.LookPath("g++"); err != nil {
					need(t, "g++ not found (apt-get install g++): %v", err)
				}
			}
			gccOut(t, gcc, append(args, src)...)
		})
	}
}

func firstDiff(a, b []string) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(end)"
}
