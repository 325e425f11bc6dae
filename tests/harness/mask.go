package harness

import "regexp"

// A mask replaces one thing that legitimately differs between a direct
// run against SoftHSM2 and a run through libgop11.so, or between any two
// runs. Each mask says why it is there; anything not listed here must
// compare equal.
type mask struct {
	re   *regexp.Regexp
	repl string
	why  string
}

var masks = []mask{
	{
		re:   regexp.MustCompile(`(?m)^(\s*utcTime:\s*)\S+\s*$`),
		repl: "${1}<time>",
		why: "pkcs11-dump prints CK_TOKEN_INFO.utcTime, which SoftHSM2 fills " +
			"with the current time to the second",
	},
	{
		re:   regexp.MustCompile(`(?m)^(Manufacturer|Library)(\s+).*$`),
		repl: "${1}${2}<masked>",
		why: "pkcs11-tool -I prints CK_INFO.manufacturerID and " +
			"libraryDescription + libraryVersion, which a proxy module may " +
			"report as its own; the token-side fields (slot and token info) are " +
			"not masked",
	},
	{
		re:   regexp.MustCompile(`(?m)^(Data object )\d+$`),
		repl: "${1}<handle>",
		why: "pkcs11-tool prints a data object's handle in its header line " +
			"(show_dobj); SoftHSM2 hands out handles per process in the order " +
			"it meets objects, and a proxy may hand out virtual ones",
	},
	{
		re:   regexp.MustCompile(`(?i)\b(h(?:Session|Object|Key)|(?:session|object|key) handle)(\s*[:=]\s*|\s+)(0x[0-9a-f]+|[0-9]+)\b`),
		repl: "${1}${2}<handle>",
		why: "session and object handles are per process and, through the " +
			"proxy, may be virtual handles chosen by the broker; apart from " +
			"the data-object line above, the tools in tests/e2e print them " +
			"only in verbose and debug output",
	},
}

// Mask replaces, in s, what legitimately differs between a direct and a
// proxied run of the same client command: the token clock, the library's
// own identity in C_GetInfo, and handles. See the masks table for why each
// one is masked.
func Mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.repl)
	}
	return s
}
