package harness

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// SecretForms returns the ways a secret could show up in a log: as is, in
// hex (plain and byte-spaced, as hex dumps print it), as a JSON byte list,
// and in base64 (standard and URL alphabets) at each of the three
// alignments it could have inside a longer encoded buffer. Callers search
// case-insensitively.
func SecretForms(secret string) map[string]string {
	b := []byte(secret)
	forms := map[string]string{
		"raw": secret,
		"hex": hex.EncodeToString(b),
	}
	spaced := make([]string, len(b))
	list := make([]string, len(b))
	for i, c := range b {
		spaced[i] = fmt.Sprintf("%02x", c)
		list[i] = fmt.Sprint(c)
	}
	forms["spaced hex"] = strings.Join(spaced, " ")
	forms["byte list"] = strings.Join(list, ",")
	for o := 0; o < 3; o++ {
		buf := append(make([]byte, o), b...)
		// Characters wholly inside the secret's bits: from ceil(8o/6)
		// to floor(8(o+n)/6).
		from, to := (8*o+5)/6, 8*(o+len(b))/6
		for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
			forms[fmt.Sprintf("%s at offset %d", name, o)] = enc.EncodeToString(buf)[from:to]
		}
	}
	return forms
}
