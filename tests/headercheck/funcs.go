// Package headercheck proves that gop11's include/pkcs11*.h agree with
// the system's p11-kit pkcs11.h, and gives other tests the function list
// of include/pkcs11f.h.
//
// The package holds no state; its functions are safe to call from
// several goroutines.
package headercheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// HeaderPath returns the path of include/<name> in the gop11 source tree
// this package was built from, for example HeaderPath("pkcs11f.h").
func HeaderPath(name string) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("include", name)
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "include", name)
}

var (
	functionInfoRE = regexp.MustCompile(`^CK_PKCS11_FUNCTION_INFO\((C_[A-Za-z0-9_]+)\)\s*$`)
	spaceRE        = regexp.MustCompile(`\s+`)
)

// Functions parses a pkcs11f.h written in the CK_PKCS11_FUNCTION_INFO
// convention and returns the function names in file order. Each entry
// must read
//
//	CK_PKCS11_FUNCTION_INFO(C_Name)
//	#ifdef CK_NEED_ARG_LIST
//	(args);
//	#endif
//
// with the argument list on one or more lines. A malformed entry or a
// name listed twice is an error: the same file is expanded into the
// prototypes and into CK_FUNCTION_LIST, so its shape is the ABI.
func Functions(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var (
		names []string
		seen  = map[string]bool{}
		sc    = bufio.NewScanner(f)
		line  int
	)
	next := func() (string, bool) {
		for sc.Scan() {
			line++
			if s := strings.TrimSpace(sc.Text()); s != "" {
				return s, true
			}
		}
		return "", false
	}
	for sc.Scan() {
		line++
		m := functionInfoRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name, at := m[1], line
		if seen[name] {
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, at, name)
		}
		seen[name] = true

		if s, _ := next(); s != "#ifdef CK_NEED_ARG_LIST" {
			return nil, fmt.Errorf("%s:%d: %s: want #ifdef CK_NEED_ARG_LIST, got %q", path, line, name, s)
		}
		var args strings.Builder
		for {
			s, ok := next()
			if !ok || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "CK_PKCS11_FUNCTION_INFO") {
				return nil, fmt.Errorf("%s:%d: %s: argument list does not end in \");\"", path, line, name)
			}
			args.WriteString(s)
			args.WriteByte(' ')
			if strings.HasSuffix(s, ");") {
				break
			}
		}
		if a := strings.TrimSpace(args.String()); !strings.HasPrefix(a, "(") {
			return nil, fmt.Errorf("%s:%d: %s: argument list %q does not start with \"(\"", path, at, name, spaceRE.ReplaceAllString(a, " "))
		}
		if s, _ := next(); s != "#endif" {
			return nil, fmt.Errorf("%s:%d: %s: want #endif, got %q", path, line, name, s)
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no CK_PKCS11_FUNCTION_INFO entries", path)
	}
	return names, nil
}
