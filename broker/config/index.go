package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// keyIndex records the line of every key in a document, by the key as
// messages write it: module[1].env.SOFTHSM2_CONF. go-toml's decoder gives
// positions only with its errors and without array indexes; this walk of
// its AST gives both, for errors found after decoding too.
type keyIndex struct {
	lines   map[string]int   // key → line where it is first written
	byLine  map[int][]string // line → keys written on it, in order
	arrays  map[string]int   // array table → number of elements so far
	nl      []int            // offsets of '\n', to turn offsets into lines
	problem *Error           // a construct the decoder accepts and we do not
}

// indexKeys indexes data. On a syntax error it stops; the decoder reports it.
func indexKeys(data []byte) *keyIndex {
	x := &keyIndex{lines: map[string]int{}, byLine: map[int][]string{}, arrays: map[string]int{}}
	for i, c := range data {
		if c == '\n' {
			x.nl = append(x.nl, i)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.KeyValue:
			x.keyValue(prefix, e)
		case unstable.Table:
			keys, line := x.keys(e.Key())
			if len(keys) == 1 && (keys[0] == "module" || keys[0] == "token" || keys[0] == "client") && x.problem == nil {
				x.problem = &Error{Line: line, Key: keys[0], Msg: "want [[" + keys[0] + "]], an array of tables"}
			}
			prefix = x.tablePath(keys)
			x.add(prefix, line)
		case unstable.ArrayTable:
			keys, line := x.keys(e.Key())
			plain := strings.Join(keys, ".")
			parent := x.tablePath(keys[:len(keys)-1])
			base := join(parent, keys[len(keys)-1])
			n := x.arrays[plain]
			x.arrays[plain] = n + 1
			prefix = base + "[" + strconv.Itoa(n) + "]"
			x.add(prefix, line)
		}
	}
	return x
}

// keyPart writes one part of a key as TOML would: bare when it can be,
// else quoted, so that a key with a dot or a newline stays one part of one
// line.
func keyPart(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(k)
		}
	}
	return k
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// tablePath writes a table's key with the index of the latest element of
// every array table it passes through: [module.env] → module[2].env.
func (x *keyIndex) tablePath(keys []string) string {
	path := ""
	for i, k := range keys {
		path = join(path, k)
		if n := x.arrays[strings.Join(keys[:i+1], ".")]; n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

func (x *keyIndex) keys(it unstable.Iterator) ([]string, int) {
	var keys []string
	line := 0
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = x.line(n.Raw)
		}
		keys = append(keys, keyPart(string(n.Data)))
	}
	return keys, line
}

func (x *keyIndex) keyValue(prefix string, e *unstable.Node) {
	keys, line := x.keys(e.Key())
	path := prefix
	for _, k := range keys {
		path = join(path, k)
	}
	x.add(path, line)
	x.value(path, e.Value(), line)
}

// value indexes the elements of arrays and the keys of inline tables.
func (x *keyIndex) value(path string, v *unstable.Node, line int) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); {
			n := it.Node()
			if n.Kind == unstable.Comment {
				continue
			}
			el := path + "[" + strconv.Itoa(i) + "]"
			l := x.line(n.Raw)
			if l == 0 {
				l = line
			}
			x.add(el, l)
			x.value(el, n, l)
			i++
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				x.keyValue(path, n)
			}
		}
	}
}

func (x *keyIndex) add(path string, line int) {
	if _, ok := x.lines[path]; !ok {
		x.lines[path] = line
	}
	x.byLine[line] = append(x.byLine[line], path)
}

// line returns the line of r, or 0 for a node without a position.
func (x *keyIndex) line(r unstable.Range) int {
	if r.Length == 0 && r.Offset == 0 {
		return 0
	}
	return sort.SearchInts(x.nl, int(r.Offset)) + 1
}

// lineOf returns the line of key or, when key is not written (a missing
// required key), of the nearest enclosing key that is; 0 if none.
func (x *keyIndex) lineOf(key string) int {
	for key != "" {
		if l, ok := x.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// keyAt finds the key written on line whose path without indexes ends
// with keys (go-toml's error keys have no indexes and may be relative to
// the current table).
func (x *keyIndex) keyAt(line int, keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = keyPart(k)
	}
	plain := strings.Join(parts, ".")
	for _, k := range x.byLine[line] {
		s := stripIndexes(k)
		if s == plain || strings.HasSuffix(s, "."+plain) {
			return k
		}
	}
	return plain
}

// stripIndexes turns module[1].env.X into module.env.X.
func stripIndexes(key string) string {
	var b strings.Builder
	skip := false
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '[' && i > 0 && key[i-1] != '"':
			skip = true
		case c == ']':
			skip = false
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}
