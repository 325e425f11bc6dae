package harness

import (
	"fmt"
	"strings"
)

// Diff returns a minimal line diff of a and b ("-" lines only in a,
// "+" lines only in b), from a longest common subsequence. Very long inputs
// get only their first difference, with context.
func Diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al)*len(bl) > 4_000_000 {
		i := 0
		for i < len(al) && i < len(bl) && al[i] == bl[i] {
			i++
		}
		lo := max(0, i-3)
		var out strings.Builder
		fmt.Fprintf(&out, "first difference at line %d:\n", i+1)
		for j := lo; j < min(len(al), i+3); j++ {
			fmt.Fprintf(&out, "- %s\n", al[j])
		}
		for j := lo; j < min(len(bl), i+3); j++ {
			fmt.Fprintf(&out, "+ %s\n", bl[j])
		}
		return out.String()
	}
	// lcs[i][j] = LCS length of al[i:] and bl[j:]
	lcs := make([][]int32, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			fmt.Fprintf(&out, "  %s\n", al[i])
			i++
			j++
		case i < len(al) && (j == len(bl) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&out, "- %s\n", al[i])
			i++
		default:
			fmt.Fprintf(&out, "+ %s\n", bl[j])
			j++
		}
	}
	return out.String()
}
