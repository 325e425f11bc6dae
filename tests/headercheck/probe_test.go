package headercheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// p11kitInclude and p11kitHeader locate Debian's libp11-kit-dev header.
const (
	p11kitInclude = "/usr/include/p11-kit-1"
	p11kitHeader  = p11kitInclude + "/p11-kit/pkcs11.h"
)

// need stops the test when a tool is missing: a failure under CI=true,
// a skip with the reason anywhere else.
func need(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

func requireGCC(t testing.TB) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		need(t, "gcc not found (apt-get install gcc): %v", err)
	}
	return gcc
}

func requireP11Kit(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(p11kitHeader); err != nil {
		need(t, "p11-kit header missing (apt-get install libp11-kit-dev): %v", err)
	}
}

// side is one header set as the C compiler sees it.
type side struct {
	name     string
	cc       string // the C compiler; "" for the host's gcc
	include  string // the #include line of the probe
	incDir   string // -I
	cflags   []string
	macros   map[string]string // gcc -dM: object-like macros, name -> body
	typedefs map[string]string // typedef name -> "struct", "scalar", "pointer" or "function"

	consts  map[string]uint64 // from running the probe
	structs map[string]structInfo
	members map[string]memberInfo // "CK_TYPE.member"
	scalars map[string]scalarInfo
}

type structInfo struct{ size, align uint64 }
type memberInfo struct{ offset, size uint64 }
type scalarInfo struct {
	size   uint64
	signed bool
}

// ours describes include/pkcs11t.h: what we promise to define.
type ours struct {
	consts  []string            // every "#define CK..." of pkcs11t.h, in order
	structs []string            // every "typedef struct CK_X {...} CK_X;", in order
	members map[string][]string // struct -> member names, in order
	scalars []string            // typedefs of a plain integer type
}

var (
	constDefineRE = regexp.MustCompile(`(?m)^#define\s+(CK[A-Z]*_[A-Z0-9_]+)\s+\S`)
	structDefRE   = regexp.MustCompile(`(?s)typedef struct (CK_[A-Z0-9_]+) \{(.*?)\} (CK_[A-Z0-9_]+);`)
	memberRE      = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]]*\])?\s*;\s*$`)
	scalarDefRE   = regexp.MustCompile(`(?m)^typedef\s+(unsigned char|unsigned long|long|CK_[A-Z0-9_]+)\s+(CK_[A-Z0-9_]+);`)
	macroRE       = regexp.MustCompile(`^#define\s+(CK[A-Z]*_[A-Z0-9_]+)(?:\s+(.*))?$`)

	typedefRE    = regexp.MustCompile(`typedef\s+([^;{}()]*?)\s*\b(CK_[A-Z0-9_]+)\s*;`)
	typedefBodRE = regexp.MustCompile(`typedef\s+struct\s*\w*\s*\{[^{}]*\}\s*(CK_[A-Z0-9_]+)\s*;`)
	typedefFnRE  = regexp.MustCompile(`typedef\s+[^;{}]*?\(\s*\*\s*(CK_[A-Za-z0-9_]+)\s*\)`)
)

func parseOurs(t testing.TB) *ours {
	t.Helper()
	src, err := os.ReadFile(HeaderPath("pkcs11t.h"))
	if err != nil {
		t.Fatal(err)
	}
	o := &ours{members: map[string][]string{}}
	for _, m := range constDefineRE.FindAllSubmatch(src, -1) {
		o.consts = append(o.consts, string(m[1]))
	}
	for _, m := range structDefRE.FindAllSubmatch(src, -1) {
		tag, body, name := string(m[1]), string(m[2]), string(m[3])
		if tag != name {
			t.Fatalf("pkcs11t.h: struct tag %s names typedef %s; keep them equal as OASIS does", tag, name)
		}
		o.structs = append(o.structs, name)
		for _, line := range strings.Split(body, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "/*") {
				continue
			}
			mm := memberRE.FindStringSubmatch(line)
			if mm == nil {
				t.Fatalf("pkcs11t.h: %s: cannot read member line %q", name, line)
			}
			o.members[name] = append(o.members[name], mm[1])
		}
	}
	for _, m := range scalarDefRE.FindAllSubmatch(src, -1) {
		if !strings.HasSuffix(string(m[2]), "_PTR") {
			o.scalars = append(o.scalars, string(m[2]))
		}
	}
	// CK_FUNCTION_LIST (v2.40's) and CK_FUNCTION_LIST_3_0 are completed
	// in pkcs11.h from pkcs11f.h.
	fns, err := Functions(HeaderPath("pkcs11f.h"))
	if err != nil {
		t.Fatal(err)
	}
	o.structs = append(o.structs, "CK_FUNCTION_LIST", "CK_FUNCTION_LIST_3_0")
	o.members["CK_FUNCTION_LIST"] = append([]string{"version"}, v240(fns)...)
	o.members["CK_FUNCTION_LIST_3_0"] = append([]string{"version"}, fns...)
	return o
}

// gccOut runs gcc and returns its standard output.
func gccOut(t testing.TB, gcc string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(gcc, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// scan fills macros and typedefs from the preprocessor.
func (s *side) scan(t testing.TB, gcc, dir string) {
	t.Helper()
	src := filepath.Join(dir, s.name+"-scan.c")
	if err := os.WriteFile(src, []byte(s.include+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-I" + s.incDir}, s.cflags...)

	s.macros = map[string]string{}
	for _, line := range strings.Split(string(gccOut(t, gcc, append(args, "-dM", "-E", src)...)), "\n") {
		if m := macroRE.FindStringSubmatch(line); m != nil && strings.TrimSpace(m[2]) != "" {
			s.macros[m[1]] = strings.TrimSpace(m[2])
		}
	}

	pre := string(gccOut(t, gcc, append(args, "-E", "-P", src)...))
	s.typedefs = map[string]string{}
	for _, m := range typedefRE.FindAllStringSubmatch(pre, -1) {
		body, name := m[1], m[2]
		switch {
		case strings.Contains(body, "*"):
			s.typedefs[name] = "pointer"
		case strings.HasPrefix(body, "struct"):
			s.typedefs[name] = "struct"
		default:
			s.typedefs[name] = "scalar"
		}
	}
	for _, m := range typedefBodRE.FindAllStringSubmatch(pre, -1) {
		s.typedefs[m[1]] = "struct"
	}
	for _, m := range typedefFnRE.FindAllStringSubmatch(pre, -1) {
		s.typedefs[m[1]] = "function"
	}
}

// probe compiles a table of, for the names it is given, every constant's
// value, every struct's size and alignment, every member's offset and
// size, and every scalar type's size and signedness, and reads the table
// back from the compiler's assembly: nothing runs, so a cross compiler
// (the Windows ABI, mingw) is probed the same way.
func (s *side) probe(t testing.TB, gcc, dir string, consts, structs []string, members map[string][]string, scalars []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("#include <stddef.h>\n")
	b.WriteString(s.include + "\n")
	b.WriteString("const unsigned long long gop11_probe[] = {\n")
	var keys []string // what each pair of values is, in order
	entry := func(key, a, b2 string) {
		keys = append(keys, key)
		fmt.Fprintf(&b, "\t(unsigned long long)(%s), (unsigned long long)(%s),\n", a, b2)
	}
	for _, c := range consts {
		entry("const "+c, c, "0")
	}
	for _, st := range structs {
		entry("struct "+st, "sizeof("+st+")", "_Alignof("+st+")")
		for _, m := range members[st] {
			entry("member "+st+"."+m, "offsetof("+st+", "+m+")", "sizeof((("+st+" *)0)->"+m+")")
		}
	}
	for _, sc := range scalars {
		entry("scalar "+sc, "sizeof("+sc+")", "("+sc+")-1 < ("+sc+")0")
	}
	b.WriteString("};\n")

	src := filepath.Join(dir, s.name+"-probe.c")
	asm := filepath.Join(dir, s.name+"-probe.s")
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cc := gcc
	if s.cc != "" {
		cc = s.cc
	}
	args := append([]string{"-std=c11", "-I" + s.incDir}, s.cflags...)
	gccOut(t, cc, append(args, "-S", "-o", asm, src)...)
	vals := probeValues(t, asm)
	if len(vals) != 2*len(keys) {
		t.Fatalf("%s probe: %d values for %d entries", s.name, len(vals), len(keys))
	}

	s.consts = map[string]uint64{}
	s.structs = map[string]structInfo{}
	s.members = map[string]memberInfo{}
	s.scalars = map[string]scalarInfo{}
	for i, key := range keys {
		kind, name, _ := strings.Cut(key, " ")
		a, b := vals[2*i], vals[2*i+1]
		switch kind {
		case "const":
			s.consts[name] = a
		case "struct":
			s.structs[name] = structInfo{a, b}
		case "member":
			s.members[name] = memberInfo{a, b}
		case "scalar":
			s.scalars[name] = scalarInfo{a, b == 1}
		}
	}
}

// probeValues reads the gop11_probe array of a compiler's assembly: one
// .quad per value, a run of zeros perhaps as one .zero.
func probeValues(t testing.TB, asm string) []uint64 {
	t.Helper()
	text, err := os.ReadFile(asm)
	if err != nil {
		t.Fatal(err)
	}
	var vals []uint64
	in := false
	for _, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "gop11_probe:":
			in = true
		case !in || len(f) == 0:
		case f[0] == ".quad" && len(f) == 2:
			v, err := strconv.ParseInt(f[1], 0, 64)
			if err != nil {
				u, uerr := strconv.ParseUint(f[1], 0, 64)
				if uerr != nil {
					t.Fatalf("%s: %q: %v", asm, line, err)
				}
				v = int64(u)
			}
			vals = append(vals, uint64(v))
		case f[0] == ".zero" && len(f) == 2:
			n, err := strconv.Atoi(f[1])
			if err != nil || n%8 != 0 {
				t.Fatalf("%s: %q: want a multiple of 8 bytes", asm, line)
			}
			vals = append(vals, make([]uint64, n/8)...)
		default:
			return vals
		}
	}
	return vals
}

// checked is everything the compiler told us about our headers and one
// reference header set.
type checked struct {
	windows   bool
	ours      *ours
	our, ref  *side
	refConsts []string // the reference's numeric CK... macros, sorted
}

// reference is a header set we compare ours with.
type reference struct {
	name string
	// cc compiles both sides ("" for the host's gcc); windows: the Win64
	// ABI, where CK_ULONG is 32 bits and structures are packed to 1 byte.
	cc      string
	windows bool
	// side returns the reference's side, or stops the test (need) when
	// its headers are missing.
	side func(t testing.TB) *side

	once sync.Once
	res  *checked
	err  string
}

// p11kit includes <p11-kit/pkcs11.h> without CRYPTOKI_GNU: its default,
// CRYPTOKI_COMPAT, gives the spec's names (CK_ATTRIBUTE, pValue, ...);
// CRYPTOKI_GNU would rename everything to ck_attribute, value, ... and
// nothing would line up. The #error proves the mode.
var p11kit = &reference{name: "p11-kit", side: func(t testing.TB) *side {
	requireP11Kit(t)
	return &side{name: "p11kit", include: "#include <p11-kit/pkcs11.h>\n" +
		"#if !defined(CRYPTOKI_COMPAT) || defined(CRYPTOKI_GNU)\n" +
		"#error p11-kit header not in its CRYPTOKI_COMPAT (spec names) mode\n#endif",
		incDir: p11kitInclude, cflags: []string{"-Wall"}}
}}

// oasis is the OASIS PKCS #11 v2.40 (errata 01) header as shipped in the
// github.com/miekg/pkcs11 module, which go.mod already requires. It
// expects the platform macros from its includer, as the spec says.
var oasis = &reference{name: "OASIS v2.40", side: func(t testing.TB) *side {
	dir := oasisDir(t)
	return &side{name: "oasis", include: "#define CK_PTR *\n" +
		"#define CK_DECLARE_FUNCTION(returnType, name) returnType name\n" +
		"#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (* name)\n" +
		"#define CK_CALLBACK_FUNCTION(returnType, name) returnType (* name)\n" +
		"#define NULL_PTR 0\n" +
		"#include \"pkcs11.h\"",
		incDir: dir, cflags: []string{"-Wall"}}
}}

// mingw is the Windows x86-64 cross compiler (gcc-mingw-w64-x86-64).
const mingw = "x86_64-w64-mingw32-gcc"

// oasisWin64 is the same OASIS header with the platform macros the spec
// gives for Win32 (its section on platform notes): 1-byte packing and
// dllimport'ed functions. Our header compiled with the same compiler must
// lay out every structure the same way (tests/windows runs it).
var oasisWin64 = &reference{name: "OASIS v2.40, Win64", cc: mingw, windows: true, side: func(t testing.TB) *side {
	if _, err := exec.LookPath(mingw); err != nil {
		need(t, "%s not found (apt-get install gcc-mingw-w64-x86-64): %v", mingw, err)
	}
	dir := oasisDir(t)
	return &side{name: "oasis-win64", cc: mingw, include: "#pragma pack(push, cryptoki, 1)\n" +
		"#define CK_PTR *\n" +
		"#define CK_DECLARE_FUNCTION(returnType, name) returnType __declspec(dllimport) name\n" +
		"#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType __declspec(dllimport) (* name)\n" +
		"#define CK_CALLBACK_FUNCTION(returnType, name) returnType (* name)\n" +
		"#define NULL_PTR 0\n" +
		"#include \"pkcs11.h\"\n" +
		"#pragma pack(pop, cryptoki)",
		incDir: dir, cflags: []string{"-Wall"}}
}}

// oasisDir finds the miekg/pkcs11 module directory through the go tool.
func oasisDir(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		need(t, "go tool not found to locate github.com/miekg/pkcs11: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-m", "-f", "{{.Dir}}", "github.com/miekg/pkcs11").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		need(t, "github.com/miekg/pkcs11 not in the module cache (go mod download github.com/miekg/pkcs11): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pkcs11t.h")); err != nil {
		need(t, "OASIS header missing from %s: %v", dir, err)
	}
	return dir
}

// probe builds and runs the probes for ours and r, once per test binary.
func (r *reference) probe(t *testing.T) *checked {
	t.Helper()
	gcc := requireGCC(t)
	refSide := r.side(t)
	r.once.Do(func() {
		dir, err := os.MkdirTemp("", "headercheck")
		if err != nil {
			r.err = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		ft := &fatalRecorder{TB: t}
		func() {
			defer ft.recover()
			r.res = runProbes(ft, gcc, dir, r.cc, refSide)
		}()
		r.err = ft.msg
	})
	if r.err != "" {
		t.Fatal(r.err)
	}
	return r.res
}

func runProbes(t testing.TB, gcc, dir, cc string, ref *side) *checked {
	o := parseOurs(t)
	incDir, err := filepath.Abs(filepath.Dir(HeaderPath("pkcs11.h")))
	if err != nil {
		t.Fatal(err)
	}
	our := &side{name: "ours", cc: cc, include: `#include "pkcs11.h"`, incDir: incDir,
		cflags: []string{"-Wall", "-Werror"}}
	if cc != "" {
		our.name = "ours-" + ref.name
	}
	our.scan(t, gcc, dir)
	ref.scan(t, gcc, dir)

	var refConsts []string
	for name := range ref.macros {
		if !platformMacros[name] {
			refConsts = append(refConsts, name)
		}
	}
	sort.Strings(refConsts)

	var refStructs []string
	for _, st := range o.structs {
		if ref.typedefs[st] == "struct" {
			refStructs = append(refStructs, st)
		}
	}
	var refScalars []string
	for _, sc := range o.scalars {
		if ref.typedefs[sc] == "scalar" {
			refScalars = append(refScalars, sc)
		}
	}
	our.probe(t, gcc, dir, o.consts, o.structs, o.members, o.scalars)
	ref.probe(t, gcc, dir, refConsts, refStructs, o.members, refScalars)
	return &checked{windows: cc == mingw, ours: o, our: our, ref: ref, refConsts: refConsts}
}

// fatalRecorder turns Fatal inside sync.Once into a stored message, so
// that every test that needs the probes fails with it, not just the
// first one.
type fatalRecorder struct {
	testing.TB
	msg string
}

type fatalPanic struct{}

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic(fatalPanic{})
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(fatalPanic{})
}

func (f *fatalRecorder) recover() {
	if r := recover(); r != nil {
		if _, ok := r.(fatalPanic); !ok {
			panic(r)
		}
	}
}
