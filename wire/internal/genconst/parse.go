package main

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Const is one numeric "#define CK..." of the header.
type Const struct {
	Name       string
	Value      uint64 // evaluated as a 64-bit CK_ULONG
	Alias      string // set when the value is just another constant's name
	Deprecated bool   // the line's comment says "deprecated"
	Line       int
}

// defineRE matches "#define NAME BODY" with an optional trailing comment.
// Only names that start with CK followed by capitals and "_" are
// constants (CKA_CLASS, CK_INVALID_HANDLE); the platform macros and
// include guards of the headers do not match.
var defineRE = regexp.MustCompile(`^#define\s+(CK[A-Z]*_[A-Z0-9_]+)\s+(.*?)\s*(?:/\*(.*)\*/)?\s*$`)

// ParseHeader returns the numeric constants of a pkcs11t.h-style header
// in the order they are defined. A CK... define whose body is not a
// constant expression is an error: the header promises there are none.
func ParseHeader(src []byte) ([]Const, error) {
	var out []Const
	known := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		m := defineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name, body, comment := m[1], m[2], m[3]
		if _, dup := known[name]; dup {
			return nil, fmt.Errorf("line %d: %s defined twice", n, name)
		}
		v, err := eval(body, known)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", n, name, err)
		}
		c := Const{Name: name, Value: v, Line: n,
			Deprecated: strings.Contains(strings.ToLower(comment), "deprecated")}
		if _, isName := known[body]; isName {
			c.Alias = body
		}
		known[name] = v
		out = append(out, c)
	}
	return out, sc.Err()
}

// eval computes a C constant expression made of unsigned integer
// literals, earlier constants, parentheses, "~", "|" and "<<", the
// only operators the PKCS #11 headers use.
func eval(expr string, known map[string]uint64) (uint64, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return 0, err
	}
	p := &exprParser{toks: toks, known: known}
	v, err := p.or()
	if err != nil {
		return 0, err
	}
	if p.pos != len(p.toks) {
		return 0, fmt.Errorf("unexpected %q in %q", p.toks[p.pos], expr)
	}
	return v, nil
}

var tokenRE = regexp.MustCompile(`^\s*(0[xX][0-9A-Fa-f]+|[0-9]+|[A-Za-z_][A-Za-z0-9_]*|<<|[()|~])`)

func tokenize(s string) ([]string, error) {
	var toks []string
	for strings.TrimSpace(s) != "" {
		m := tokenRE.FindStringSubmatch(s)
		if m == nil {
			return nil, fmt.Errorf("cannot read %q", s)
		}
		tok := m[1]
		s = s[len(m[0]):]
		// Integer suffixes (U, L, UL, ULL) belong to the number before them.
		if tok[0] >= '0' && tok[0] <= '9' {
			for len(s) > 0 && strings.ContainsRune("uUlL", rune(s[0])) {
				s = s[1:]
			}
		}
		toks = append(toks, tok)
	}
	return toks, nil
}

type exprParser struct {
	toks  []string
	pos   int
	known map[string]uint64
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) or() (uint64, error) {
	v, err := p.shift()
	for err == nil && p.peek() == "|" {
		p.pos++
		var w uint64
		w, err = p.shift()
		v |= w
	}
	return v, err
}

func (p *exprParser) shift() (uint64, error) {
	v, err := p.unary()
	for err == nil && p.peek() == "<<" {
		p.pos++
		var w uint64
		w, err = p.unary()
		if w >= 64 {
			return 0, fmt.Errorf("shift by %d", w)
		}
		v <<= w
	}
	return v, err
}

func (p *exprParser) unary() (uint64, error) {
	tok := p.peek()
	p.pos++
	switch {
	case tok == "":
		return 0, fmt.Errorf("expression ends early")
	case tok == "~":
		v, err := p.unary()
		return ^v, err
	case tok == "(":
		v, err := p.or()
		if err != nil {
			return 0, err
		}
		if p.peek() != ")" {
			return 0, fmt.Errorf("missing )")
		}
		p.pos++
		return v, nil
	case tok[0] >= '0' && tok[0] <= '9':
		return strconv.ParseUint(tok, 0, 64)
	default:
		v, ok := p.known[tok]
		if !ok {
			return 0, fmt.Errorf("%s is not a constant defined above", tok)
		}
		return v, nil
	}
}
