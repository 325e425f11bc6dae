package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testLib makes a regular file to stand for a module library and returns
// its path.
func testLib(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "libvendor.so")
	if err := os.WriteFile(p, []byte("not really ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const head = `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft"
path = "LIB"
`

// groupTokens: two named tokens without slots, for [[group]] cases.
const groupTokens = `[[token]]
name = "a"
module = "soft"
uri = "pkcs11:token=x;serial=1"
[[token]]
name = "b"
module = "soft"
uri = "pkcs11:token=x;serial=2"
`

// Each bad config with its exact message. LIB stands for an existing
// regular file, in the document and in the message.
var badConfigs = []struct{ name, doc, want string }{
	// Syntax and types, as go-toml finds them.
	{"syntax: unterminated string", head + "isolation = \"process\n",
		`broker.toml:5: TOML syntax: basic strings cannot have new lines`},
	{"syntax: no value", "listen =\n",
		`broker.toml:1: TOML syntax: unexpected character U+000A at start of value`},
	{"syntax: duplicate key", head + "name = \"again\"\n",
		`broker.toml:5: module[0].name: key name is already defined`},
	{"unknown top-level key", `listen = ["unix:///run/gop11/gop11.sock"]
listen_on = "tcp://[::1]:7000"
[[module]]
name = "soft"
path = "LIB"
`, `broker.toml:2: listen_on: unknown key`},
	{"unknown key in second module", head + `[[module]]
name = "other"
pathh = "LIB"
`, `broker.toml:7: module[1].pathh: unknown key`},
	{"unknown key in an inline module", `listen = ["unix:///run/gop11/gop11.sock"]
module = [
  {name = "a", path = "LIB"},
  {name = "b", path = "LIB", isolate = true},
]
`, `broker.toml:4: module[1].isolate: unknown key`},
	{"unknown quoted key", head + "\"a.b\\nc\" = 1\n",
		`broker.toml:5: module[0]."a.b\nc": unknown key`},
	{"unknown table", head + "[server]\nport = 1\n",
		`broker.toml:5: server: unknown key`},
	{"unknown key in token", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
pinn = "file:/p"
`, `broker.toml:9: token[0].pinn: unknown key`},
	{"pin in clear", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
pin = "s3cret"
`, `broker.toml:9: token[0].pin: want "file:/path", "env:VAR" or "credential:NAME"`},
	{"pin file relative", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
pin = "file:s3cret"
`, `broker.toml:9: token[0].pin: file: want an absolute path`},
	{"pin file missing", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
pin = "file:/nonexistent/pin"
`, `broker.toml:9: token[0].pin: /nonexistent/pin: no such file or directory`},
	{"pin file readable by others", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
pin = "file:LIB"
`, `broker.toml:9: token[0].pin: LIB: mode 0644: want 0600 or 0400`},
	{"pin source unknown", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
pin = "s3cret:x"
`, `broker.toml:9: token[0].pin: unknown source: want "file:/path", "env:VAR" or "credential:NAME"`},
	{"tcp not loopback", `listen = ["tcp://0.0.0.0:7000"]
insecure_tcp = true
[[module]]
name = "soft"
path = "LIB"
`, `broker.toml:1: listen[0]: tcp://0.0.0.0:7000: plaintext tcp:// is allowed only on a loopback address: use tls:// with a [tls] section`},
	{"tcp without insecure_tcp", `listen = ["tcp://127.0.0.1:7000"]
[[module]]
name = "soft"
path = "LIB"
`, `broker.toml:1: listen[0]: tcp://127.0.0.1:7000: plaintext tcp:// needs insecure_tcp = true (loopback only); use tls:// otherwise`},
	{"tls without [tls]", `listen = ["tls://127.0.0.1:7000"]
[[module]]
name = "soft"
path = "LIB"
`, `broker.toml:1: listen[0]: tls://127.0.0.1:7000: a tls:// listener needs a [tls] section (cert, key, client_ca)`},
	{"tls without key", head + `[tls]
cert = "LIB"
client_ca = "LIB"
`, `broker.toml:5: tls.key: required in [tls]`},
	{"tls key readable by others", head + `[tls]
cert = "LIB"
key = "LIB"
client_ca = "LIB"
`, `broker.toml:7: tls.key: LIB: mode 0644: want 0600 or 0400`},
	{"tls unknown key", head + `[tls]
certificate = "LIB"
`, `broker.toml:6: tls.certificate: unknown key`},
	{"client as a table", head + `[client]
name = "a"
`, `broker.toml:5: client: want [[client]], an array of tables`},
	{"client without identity", head + `[[client]]
name = "a"
slots = []
`, `broker.toml:5: client[0]: needs uids, gids or cert_names: a client that names nobody matches nobody`},
	{"client without name", head + `[[client]]
uids = [1]
`, `broker.toml:5: client[0].name: required`},
	{"client duplicate", head + `[[client]]
name = "a"
uids = [1]
[[client]]
name = "a"
uids = [2]
`, `broker.toml:9: client[1].name: duplicate name "a" (first at line 6)`},
	{"client empty uids", head + `[[client]]
name = "a"
uids = []
`, `broker.toml:7: client[0].uids: empty: list one or more IDs, or leave the key out`},
	{"client unknown slot", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
[[client]]
name = "a"
uids = [1]
slots = [2]
`, `broker.toml:12: client[0].slots: slot 2 is not the slot of any [[token]] or [[group]]`},
	{"client bad object", head + `[[client]]
name = "a"
uids = [1]
objects = ["ca-*"]
`, `broker.toml:8: client[0].objects: "ca-*": want label:GLOB or id:HEXPREFIX`},
	{"client bad id", head + `[[client]]
name = "a"
uids = [1]
objects = ["id:0g*"]
`, `broker.toml:8: client[0].objects: "id:0g*": want id: and hex digits (an even number), optionally ending in *`},
	{"client unknown mechanism", head + `[[client]]
name = "a"
uids = [1]
mechanisms = ["CKM_SHA256_RSA"]
`, `broker.toml:8: client[0].mechanisms: "CKM_SHA256_RSA": not a mechanism this broker knows (a vendor's: CKM_0x%08X)`},
	{"client unknown operation", head + `[[client]]
name = "a"
uids = [1]
operations = ["sign", "export"]
`, `broker.toml:8: client[0].operations: "export": not an operation; want one of sign, verify, encrypt, decrypt, digest, wrap, unwrap, derive, generate, create, copy, destroy, set-attribute, read, find, random, login-so, init-token, init-pin, set-pin`},
	{"client login broker without pin", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1
[[client]]
name = "a"
uids = [1]
login = "broker"
`, `broker.toml:12: client[0].login: "broker" needs a pin on every token the client sees: slot 1 (line 5) has none`},
	{"client bad login", head + `[[client]]
name = "a"
uids = [1]
login = "token"
`, `broker.toml:8: client[0].login: "token": want "client" or "broker"`},
	{"client negative max_sessions", head + `[[client]]
name = "a"
uids = [1]
max_sessions = -1
`, `broker.toml:8: client[0].max_sessions: -1: want 0 (no bound) or more`},
	{"client uids wrong type", head + `[[client]]
name = "a"
uids = "root"
`, `broker.toml:7: client[0].uids: want an array of integers, not a string`},
	{"slot is a string", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = "ten"
`, `broker.toml:8: token[0].slot: want an integer, not a string`},
	{"slot is a float", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 1.5
`, `broker.toml:8: token[0].slot: want an integer, not a float`},
	{"listen is a string", `listen = "unix:///run/gop11/gop11.sock"` + "\n",
		`broker.toml:1: listen: want an array of strings, not a string`},
	{"listen element is an integer", `listen = ["unix:///run/gop11/gop11.sock", 7000]` + "\n",
		`broker.toml:1: listen: want an array of strings, not an integer`},
	{"socket_mode is an integer", "socket_mode = 0o660\n" + head,
		`broker.toml:1: socket_mode: want a string such as "0660", not an integer`},
	{"serialize is a string", head + "serialize = \"yes\"\n",
		`broker.toml:5: module[0].serialize: want a boolean, not a string`},
	{"call_timeout is an integer", head + "call_timeout = 30\n",
		`broker.toml:5: module[0].call_timeout: want a duration string such as "30s", not an integer`},
	{"env value is an integer", head + "[module.env]\nA = \"x\"\nB = 1\n",
		`broker.toml:7: module[0].env.B: want a string, not an integer`},
	{"module is an integer", `listen = ["unix:///run/gop11/gop11.sock"]` + "\nmodule = 3\n",
		`broker.toml:2: module: want an array of tables, [[module]], not an integer`},
	{"module is a table", `listen = ["unix:///run/gop11/gop11.sock"]
[module]
name = "soft"
path = "LIB"
`, `broker.toml:2: module: want [[module]], an array of tables`},
	{"token is a table", head + "[token]\nmodule = \"soft\"\n",
		`broker.toml:5: token: want [[token]], an array of tables`},

	// listen, socket_mode, logs.
	{"listen missing", "[[module]]\nname = \"soft\"\npath = \"LIB\"\n",
		`broker.toml: listen: required: one or more endpoints, e.g. ["unix:///run/gop11/gop11.sock"]`},
	{"listen empty", "listen = []\n",
		`broker.toml:1: listen: want one or more endpoints`},
	{"listen scheme", `listen = ["http://localhost:80"]` + "\n",
		`broker.toml:1: listen[0]: endpoint "http://localhost:80": scheme must be unix, tls or tcp`},
	{"listen relative unix path", `listen = [
  "unix:///run/gop11/gop11.sock",
  "unix://gop11.sock",
]
`, `broker.toml:3: listen[1]: endpoint "unix://gop11.sock": want unix:///absolute/path`},
	{"listen tcp without port", `listen = ["tcp://localhost"]` + "\n",
		`broker.toml:1: listen[0]: endpoint "tcp://localhost": want tcp://host:port`},
	{"listen twice", `listen = ["tcp://127.0.0.1:7000", "tcp://127.0.0.1:7000"]` + "\n",
		`broker.toml:1: listen[1]: "tcp://127.0.0.1:7000" is already listed as listen[0]`},
	{"socket_mode not octal", "socket_mode = \"0990\"\n" + head,
		`broker.toml:1: socket_mode: "0990": want an octal mode from "0000" to "0777", such as "0660"`},
	{"socket_mode too large", "socket_mode = \"01777\"\n" + head,
		`broker.toml:1: socket_mode: "01777": want an octal mode from "0000" to "0777", such as "0660"`},
	{"socket_mode rwx", "socket_mode = \"rw-rw----\"\n" + head,
		`broker.toml:1: socket_mode: "rw-rw----": want an octal mode from "0000" to "0777", such as "0660"`},
	{"log_level", "log_level = \"verbose\"\n" + head,
		`broker.toml:1: log_level: "verbose": want debug, info, warn or error`},
	{"log_format", "log_format = \"text\"\n" + head,
		`broker.toml:1: log_format: "text": want json or console`},

	// [[module]].
	{"no module", `listen = ["unix:///run/gop11/gop11.sock"]` + "\n",
		`broker.toml: module: at least one [[module]] is required`},
	{"module name missing", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
path = "LIB"
`, `broker.toml:2: module[0].name: required`},
	{"module name with a space", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft hsm"
path = "LIB"
`, `broker.toml:3: module[0].name: "soft hsm": want letters, digits, '_', '.' or '-'`},
	{"module name empty", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = ""
`, `broker.toml:3: module[0].name: "": want letters, digits, '_', '.' or '-'`},
	{"module name twice", head + `[[module]]
name = "soft"
path = "LIB"
`, `broker.toml:6: module[1].name: duplicate name "soft" (first at line 3)`},
	{"module path missing", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft"
isolation = "process"
`, `broker.toml:2: module[0].path: required`},
	{"module path absent", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft"
path = "/nope.so"
`, `broker.toml:4: module[0].path: /nope.so: no such file`},
	{"module path a directory", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft"
path = "/"
`, `broker.toml:4: module[0].path: /: not a regular file`},
	{"module path with a newline", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft"
path = "/nope\n.so"
`, `broker.toml:4: module[0].path: "/nope\n.so": no such file`},
	{"module path relative", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft"
path = "libsofthsm2.so"
`, `broker.toml:4: module[0].path: "libsofthsm2.so": want an absolute path`},
	{"module path through a file", `listen = ["unix:///run/gop11/gop11.sock"]
[[module]]
name = "soft"
path = "LIB/x.so"
`, `broker.toml:4: module[0].path: LIB/x.so: not a directory`},
	{"isolation", head + "isolation = \"thread\"\n",
		`broker.toml:5: module[0].isolation: "thread": want "process", "shared" or "inprocess"`},
	{"max_pin_failures negative", head + "max_pin_failures = -1\n",
		`broker.toml:5: module[0].max_pin_failures: -1: want 0 (never) to 1048576`},
	{"max_real_sessions with a worker per client", head + "max_real_sessions = 16\n",
		`broker.toml:5: module[0].max_real_sessions: needs isolation "shared" or "inprocess": with "process" each client has a module instance of its own`},
	{"handoff without a shared worker", head + "handoff = true\n",
		`broker.toml:5: module[0].handoff: needs isolation "shared": the connections are handed to the module's shared worker`},
	{"handoff beside another module", head + "isolation = \"shared\"\nhandoff = true\n[[module]]\nname = \"other\"\npath = \"LIB\"\n",
		`broker.toml:6: module[0].handoff: needs a config whose only module this is, with no [[group]] or [[remote]]: every connection goes to its worker`},
	{"handoff beside a group", head + "isolation = \"shared\"\nhandoff = true\n" + groupTokens + "[[group]]\nname = \"g\"\nslot = 1\nmembers = [\"a\", \"b\"]\n",
		`broker.toml:6: module[0].handoff: needs a config whose only module this is, with no [[group]] or [[remote]]: every connection goes to its worker`},
	{"call_timeout without unit", head + "call_timeout = \"30\"\n",
		`broker.toml:5: module[0].call_timeout: "30": want a duration such as "30s" or "1m30s"`},
	{"call_timeout zero", head + "call_timeout = \"0s\"\n",
		`broker.toml:5: module[0].call_timeout: "0s": want a duration greater than zero`},
	{"call_timeout negative", head + "call_timeout = \"-1s\"\n",
		`broker.toml:5: module[0].call_timeout: "-1s": want a duration greater than zero`},
	{"env name empty", head + "[module.env]\n\"\" = \"x\"\n",
		`broker.toml:5: module[0].env: "": not a valid environment variable name`},
	{"env name with =", head + "env = {\"A=B\" = \"x\"}\n",
		`broker.toml:5: module[0].env: "A=B": not a valid environment variable name`},

	// [[token]].
	{"token module missing", head + `[[token]]
uri = "pkcs11:token=a"
slot = 1
`, `broker.toml:5: token[0].module: required`},
	{"token module unknown", head + `[[token]]
module = "tpm"
uri = "pkcs11:token=a"
slot = 1
`, `broker.toml:6: token[0].module: no [[module]] is named "tpm"`},
	{"token uri missing", head + `[[token]]
module = "soft"
slot = 1
`, `broker.toml:5: token[0].uri: required`},
	{"token uri not pkcs11", head + `[[token]]
module = "soft"
uri = "token=a"
slot = 1
`, `broker.toml:7: token[0].uri: pkcs11 URI: must start with "pkcs11:"`},
	{"token uri unknown attribute", head + `[[token]]
module = "soft"
uri = "pkcs11:tokn=a"
slot = 1
`, `broker.toml:7: token[0].uri: pkcs11 URI: path attribute 1 ("tokn"): unknown path attribute (vendor attributes start with x-)`},
	{"token uri bad escape", head + `[[token]]
module = "soft"
uri = "pkcs11:token=100%"
slot = 1
`, `broker.toml:7: token[0].uri: pkcs11 URI: path attribute 1 ("token"): invalid percent escape at byte 4 of the value`},
	{"token uri with pin-value", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a?pin-value=s3cret"
slot = 1
`, `broker.toml:7: token[0].uri: pin-value is not allowed: PINs do not go in this file`},
	{"token uri with pin-source", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a?pin-source=file:/etc/pin"
slot = 1
`, `broker.toml:7: token[0].uri: pkcs11:token=a?pin-source=file:/etc/pin: query attributes are not allowed here, only path attributes`},
	{"token uri with object", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a;object=key"
slot = 1
`, `broker.toml:7: token[0].uri: pkcs11:token=a;object=key: attribute "object" selects an object, not a token`},
	{"token slot missing", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
`, `broker.toml:5: token[0].slot: required (a token without a slot must have a name, for a [[group]])`},
	{"group member unknown", head + groupTokens + `[[group]]
name = "g"
slot = 9
members = ["a", "c"]
`, `broker.toml:16: group[0].members: "c": no [[token]] or [[remote]] has that name`},
	{"group member twice", head + groupTokens + `[[group]]
name = "g"
slot = 9
members = ["a", "a"]
`, `broker.toml:16: group[0].members: "a" is listed twice`},
	{"group slot taken", head + groupTokens + `[[token]]
module = "soft"
uri = "pkcs11:token=c"
slot = 9
[[group]]
name = "g"
slot = 9
members = ["a", "b"]
`, `broker.toml:19: group[0].slot: slot 9 is already used by token[2] (line 16)`},
	{"group replicate without key", head + groupTokens + `[[group]]
name = "g"
slot = 9
members = ["a", "b"]
new_keys = "replicate"
`, `broker.toml:13: group[0].replication_key: required with new_keys = "replicate"`},
	{"group new_keys bad", head + groupTokens + `[[group]]
name = "g"
slot = 9
members = ["a", "b"]
new_keys = "copy"
`, `broker.toml:17: group[0].new_keys: "copy": want "refuse", "replicate" or "pin"`},
	{"group name is a token's", head + groupTokens + `[[group]]
name = "a"
slot = 9
members = ["a", "b"]
`, `broker.toml:14: group[0].name: "a" is already the name of a [[token]]`},
	{"unslotted token in no group", head + groupTokens, `broker.toml:5: token[0].slot: required: token "a" has no slot and no [[group]] lists it`},
	{"remote without uri", head + groupTokens + `[[remote]]
name = "c"
endpoint = "tls://127.0.0.1:7011"
`, `broker.toml:13: remote[0].uri: required`},
	{"audit without a path", head + "[audit]\nverbosity = \"info\"\n",
		`broker.toml:5: audit.path: required in [audit]: a file, or "-" for standard output`},
	{"audit at a relative path", head + "[audit]\npath = \"audit.log\"\n",
		`broker.toml:6: audit.path: audit.log: want an absolute path, or "-"`},
	{"audit verbosity unknown", head + "[audit]\npath = \"-\"\nverbosity = \"debug\"\n",
		`broker.toml:7: audit.verbosity: "debug": want one of none, key_only, quiet, info, verbose, full`},
	{"metrics on a public address", "metrics_listen = \"0.0.0.0:9711\"\n" + head,
		`broker.toml:1: metrics_listen: "0.0.0.0:9711": metrics are served over plaintext HTTP, so only on a loopback address (127.0.0.1, ::1 or localhost)`},
	{"metrics without a port", "metrics_listen = \"127.0.0.1\"\n" + head,
		`broker.toml:1: metrics_listen: "127.0.0.1": want host:port, such as "127.0.0.1:9711"`},
	{"metrics on a bad port", "metrics_listen = \"[::1]:http\"\n" + head,
		`broker.toml:1: metrics_listen: "[::1]:http": port "http" is not a port number`},
	{"remote over plain tcp", head + groupTokens + `[[remote]]
name = "c"
endpoint = "tcp://127.0.0.1:7011"
uri = "pkcs11:token=signer"
`, `broker.toml:15: remote[0].endpoint: tcp://127.0.0.1:7011: want tls://host:port (mutual TLS) or unix:///path`},
	{"tls remote without certificates", head + groupTokens + `[[remote]]
name = "c"
endpoint = "tls://127.0.0.1:7011"
uri = "pkcs11:token=signer"
`, `broker.toml:13: remote[0].tls.ca: required for a tls:// remote (or the broker's [tls] client_ca)`},
	{"remote in no group", head + groupTokens + `[[remote]]
name = "c"
endpoint = "unix:///run/b2.sock"
uri = "pkcs11:token=signer"
[[group]]
name = "g"
slot = 9
members = ["a", "b"]
`, `broker.toml:14: remote[0].name: no [[group]] lists remote "c": a [[remote]] is only served as a group member`},
	{"remote named as a token", head + groupTokens + `[[remote]]
name = "a"
endpoint = "unix:///run/b2.sock"
uri = "pkcs11:token=signer"
`, `broker.toml:14: remote[0].name: "a" is already the name of a [[token]]`},
	{"token slot negative", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = -1
`, `broker.toml:8: token[0].slot: -1: want 0 to 2147483647`},
	{"token slot too large", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 2147483648
`, `broker.toml:8: token[0].slot: 2147483648: want 0 to 2147483647`},
	{"token slot beyond int64", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 99999999999999999999
`, `broker.toml:8: token[0].slot: decimal number is too large to fit in a 64-bit signed integer`},
	{"token slot twice", head + `[[token]]
module = "soft"
uri = "pkcs11:token=a"
slot = 10

[[token]]
module = "soft"
uri = "pkcs11:token=b"
slot = 11

[[token]]
module = "soft"
uri = "pkcs11:token=c"
slot = 10
`, `broker.toml:18: token[2].slot: slot 10 is already used by token[0] (line 8)`},
	{"init_args empty", head + "init_args = \"\"\n",
		`broker.toml:5: module[0].init_args: want a non-empty string without NUL bytes (its value is not shown: it may hold a password)`},
	{"vendor mechanism of a built-in type", head + "[[mechanism]]\ntype = 0x1087\nlayout = \"bytes\"\n",
		`broker.toml:5: mechanism[0]: type 0x1087 is CKM_AES_GCM, whose parameter layout is built in`},
	{"vendor mechanism layout", head + "[[mechanism]]\ntype = 0x80000f11\nlayout = \"struct(ulong, float)\"\n",
		`broker.toml:5: mechanism[0]: layout: "struct(ulong, float)": field "float": want ulong, bool, bytes or len_bytes`},
}

func TestBadConfigs(t *testing.T) {
	lib := testLib(t)
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.ReplaceAll(tc.doc, "LIB", lib)
			want := strings.ReplaceAll(tc.want, "LIB", lib)
			c, err := Parse([]byte(doc), "broker.toml")
			if err == nil {
				t.Fatalf("Parse = %+v, want error %s", c, want)
			}
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v does not wrap ErrConfig", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%v shows the PIN", err)
			}
		})
	}
}

func TestMinimal(t *testing.T) {
	lib := testLib(t)
	doc := []byte(strings.ReplaceAll(head, "LIB", lib))
	c, err := Parse(doc, "broker.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:       "broker.toml",
		Raw:        doc,
		Listen:     []string{"unix:///run/gop11/gop11.sock"},
		SocketMode: 0o600,
		LogLevel:   "info",
		LogFormat:  "json",
		Modules: []Module{{Name: "soft", Path: lib, Isolation: "process", MaxPINFailures: 10,
			CallTimeout: 30 * time.Second, Line: 2}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if c.Module("soft") != &c.Modules[0] || c.Module("other") != nil {
		t.Error("Module(name) does not find the module")
	}
}

func TestFull(t *testing.T) {
	lib := testLib(t)
	doc := strings.ReplaceAll(`# comment
listen = ["unix:///run/gop11/gop11.sock", "tcp://127.0.0.1:7000"]
insecure_tcp = true
socket_mode = "0660"
log_level = "debug"
log_format = "console"

[[module]]
name = "softhsm"
path = "LIB"
isolation = "inprocess"
serialize = true
call_timeout = "1m30s"
[module.env]
SOFTHSM2_CONF = "/etc/softhsm/softhsm2.conf"

[[module]]
name = "tpm_2.0-x"
path = "LIB"
env = {}

[[token]]
module = "softhsm"
uri = "pkcs11:token=web;serial=0123"
slot = 0

[[token]]
module = "tpm_2.0-x"
uri = "pkcs11:token=Key pairs;slot-id=1;library-version=1"
slot = 2147483647
`, "LIB", lib)
	c, err := Parse([]byte(doc), "broker.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens[0].URI.String() != "pkcs11:token=web;serial=0123" || c.Tokens[1].URI.String() != "pkcs11:token=Key%20pairs;library-version=1;slot-id=1" {
		t.Errorf("URIs: %s, %s", c.Tokens[0].URI, c.Tokens[1].URI)
	}
	for i := range c.Tokens {
		c.Tokens[i].URI = nil
	}
	want := &Config{
		Path:       "broker.toml",
		Raw:        []byte(doc),
		Listen:     []string{"unix:///run/gop11/gop11.sock", "tcp://127.0.0.1:7000"},
		SocketMode: 0o660,
		LogLevel:   "debug",
		LogFormat:  "console",
		Modules: []Module{
			{Name: "softhsm", Path: lib, Isolation: "inprocess", MaxPINFailures: 10, Serialize: true, CallTimeout: 90 * time.Second,
				Env: map[string]string{"SOFTHSM2_CONF": "/etc/softhsm/softhsm2.conf"}, Line: 8},
			{Name: "tpm_2.0-x", Path: lib, Isolation: "process", MaxPINFailures: 10, CallTimeout: 30 * time.Second,
				Env: map[string]string{}, Line: 17},
		},
		Tokens: []Token{
			{Module: "softhsm", RawURI: "pkcs11:token=web;serial=0123", Slot: 0, Line: 22},
			{Module: "tpm_2.0-x", RawURI: "pkcs11:token=Key pairs;slot-id=1;library-version=1", Slot: 1<<31 - 1, Line: 27},
		},
		InsecureTCP: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

// TestAccess parses [tls], broker-held PINs and [[client]] policies from
// files made as the broker would find them.
func TestAccess(t *testing.T) {
	dir := t.TempDir()
	lib := testLib(t)
	secret := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("s3cret\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pinFile, key := secret("pin", 0o400), secret("broker.key", 0o600)
	doc := strings.NewReplacer("LIB", lib, "PINFILE", pinFile, "KEY", key).Replace(`listen = ["unix:///run/gop11/gop11.sock", "tls://127.0.0.1:7011"]
[tls]
cert = "LIB"
key = "KEY"
client_ca = "LIB"
revoked_serials = ["1f:A0:03", "0x10"]
[[module]]
name = "soft"
path = "LIB"
[[token]]
module = "soft"
uri = "pkcs11:token=ca"
slot = 1
pin = "file:PINFILE"
[[token]]
module = "soft"
uri = "pkcs11:token=dev"
slot = 2
pin = "env:GOP11_TEST_PIN"
[[client]]
name = "ca"
uids = [998]
cert_names = ["ca.example.org"]
slots = [1]
objects = ["label:ca-*", "id:01*"]
mechanisms = ["CKM_SHA256_RSA_PKCS", "CKM_ECDSA*"]
operations = ["sign", "find"]
login = "broker"
read_only = true
max_sessions = 4
[[client]]
name = "dev"
gids = [997]
`)
	c, err := Parse([]byte(doc), "broker.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS == nil || c.TLS.Key != key || len(c.TLS.RevokedSerials) != 2 || c.TLS.RevokedSerials[0].Int64() != 0x1fa003 || c.TLS.RevokedSerials[1].Int64() != 16 {
		t.Errorf("tls: %+v", c.TLS)
	}
	if len(c.Clients) != 2 {
		t.Fatalf("clients: %+v", c.Clients)
	}
	ca, dev := c.Clients[0], c.Clients[1]
	if ca.Name != "ca" || ca.Login != "broker" || !ca.ReadOnly || ca.MaxSessions != 4 || ca.Line != 20 ||
		len(ca.Objects) != 2 || len(ca.Mechanisms) != 2 || len(ca.Operations) != 2 || !ca.SlotVisible(1) || ca.SlotVisible(2) {
		t.Errorf("client ca: %+v", ca)
	}
	if dev.Login != "client" || !dev.SlotVisible(2) || dev.Guarded() {
		t.Errorf("client dev: %+v", dev)
	}
	pin, err := c.Tokens[0].Pin.Read()
	if err != nil || string(pin) != "s3cret" {
		t.Errorf("file pin: %v", err)
	}
	if _, err := c.Tokens[1].Pin.Read(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unset env pin: %v", err)
	}
	t.Setenv("GOP11_TEST_PIN", "s3cret")
	if pin, err := c.Tokens[1].Pin.Read(); err != nil || string(pin) != "s3cret" {
		t.Errorf("env pin: %v", err)
	}
	// The file's mode changed after the check: reading refuses it.
	os.Chmod(pinFile, 0o644)
	if _, err := c.Tokens[0].Pin.Read(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("pin file made readable: %v", err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	cred := &PinSource{Kind: "credential", Ref: "pin"}
	os.Chmod(pinFile, 0o400)
	if pin, err := cred.Read(); err != nil || string(pin) != "s3cret" {
		t.Errorf("credential pin: %v", err)
	}
}

// TestQuick: the config that goes with --module has no [[module]] or
// [[token]]; its [[client]] slots are the module's own IDs, and it cannot
// hold PINs.
func TestQuick(t *testing.T) {
	q := ParseOptions{Quick: true}
	c, err := q.Parse([]byte(`listen = ["unix:///s.sock"]
[[client]]
name = "a"
uids = [1]
slots = [1592619944]
`), "q.toml")
	if err != nil || len(c.Clients) != 1 || !c.Clients[0].SlotVisible(1592619944) {
		t.Fatalf("quick config: %v %+v", err, c)
	}
	for _, tc := range []struct{ doc, want string }{
		{head, `q.toml:2: module[0]: [[module]] is for config mode: with --module (quick mode) every slot of that module is served`},
		{"listen = [\"unix:///s.sock\"]\n[[token]]\nmodule = \"m\"\n", `q.toml:2: token[0]: [[token]] is for config mode: with --module (quick mode) every slot of that module is served`},
		{"listen = [\"unix:///s.sock\"]\n[[client]]\nname = \"a\"\nuids = [1]\nlogin = \"broker\"\n", `q.toml:5: client[0].login: "broker" needs a [[token]] with a pin: config mode, not --module`},
	} {
		if _, err := q.Parse([]byte(strings.ReplaceAll(tc.doc, "LIB", "/x.so")), "q.toml"); err == nil || err.Error() != tc.want {
			t.Errorf("error:\n got %v\nwant %s", err, tc.want)
		}
	}
	// Without Quick, the same slot must be a [[token]]'s.
	if _, err := Parse([]byte(strings.ReplaceAll(head, "LIB", testLib(t))+"[[client]]\nname = \"a\"\nuids = [1]\nslots = [3]\n"), "c.toml"); err == nil {
		t.Error("config mode accepted a [[client]] slot no [[token]] has")
	}
}

const example = "../../cmd/gop11-broker/broker.example.toml"

// The example must parse. Its libraries are checked when they are
// installed, and always under CI=true; elsewhere only the file checks are
// skipped.
func TestExample(t *testing.T) {
	// The example's files under /etc/gop11 are made in a temp dir, as an
	// administrator would make them (secrets mode 0600).
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	etc := t.TempDir()
	for name, mode := range map[string]os.FileMode{"broker.crt": 0o644, "broker.key": 0o600, "client-ca.crt": 0o644, "pins/web": 0o600, "pins/signers": 0o600} {
		p := filepath.Join(etc, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte("x\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(etc, "broker.toml")
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte("/etc/gop11/"), []byte(etc+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil && errors.Is(err, ErrConfig) && strings.Contains(err.Error(), ": no such file") && os.Getenv("CI") != "true" {
		t.Logf("%v; checking the rest without file checks", err)
		c, err = ParseOptions{SkipFileChecks: true}.Parse(data, example)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Modules) < 2 || len(c.Tokens) < 2 {
		t.Errorf("example has %d modules and %d tokens; want at least two of each", len(c.Modules), len(c.Tokens))
	}
}

// Every key of the schema appears in the example, so the example documents
// them all.
func TestExampleCoversSchema(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	idx := indexKeys(data)
	have := map[string]bool{}
	for k := range idx.lines {
		have[stripIndexes(k)] = true
	}
	for k := range want {
		if !have[k] {
			t.Errorf("%s does not show key %s", example, k)
		}
	}
	if !have["module.env.SOFTHSM2_CONF"] {
		t.Errorf("%s shows no [module.env] entry", example)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "broker.toml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(head, "LIB", testLib(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Path != p {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	missing := filepath.Join(dir, "none.toml")
	_, err = Load(missing)
	if want := missing + ": cannot read: no such file or directory"; err == nil || err.Error() != want || !errors.Is(err, ErrConfig) {
		t.Errorf("Load(missing) = %v, want %s", err, want)
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(example); err == nil {
		f.Add(data)
	}
	for _, tc := range badConfigs {
		f.Add([]byte(strings.ReplaceAll(tc.doc, "LIB", "/usr/lib/x.so")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if qc, err := (ParseOptions{SkipFileChecks: true, Quick: true}).Parse(data, "f.toml"); err == nil {
			if len(qc.Modules)+len(qc.Tokens) > 0 {
				t.Fatalf("quick mode accepted modules or tokens: %+v", qc)
			}
			for _, cl := range qc.Clients {
				if cl.Login == "broker" {
					t.Fatalf("quick mode accepted login = broker: %+v", cl)
				}
			}
		}
		c, err := ParseOptions{SkipFileChecks: true}.Parse(data, "f.toml")
		if err != nil {
			msg := err.Error()
			if !errors.Is(err, ErrConfig) || !strings.HasPrefix(msg, "f.toml") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line starting f.toml, wrapping ErrConfig", msg)
			}
			return
		}
		if len(c.Listen) == 0 || len(c.Modules) == 0 {
			t.Fatalf("accepted without listen or module: %+v", c)
		}
		slots := map[uint64]bool{}
		for _, tk := range c.Tokens {
			if c.Module(tk.Module) == nil || tk.URI == nil || tk.Slot > MaxSlot || (!tk.NoSlot && slots[tk.Slot]) || (tk.NoSlot && tk.Name == "") {
				t.Fatalf("accepted a bad token: %+v", tk)
			}
			if _, ok := tk.URI.PIN(); ok {
				t.Fatalf("accepted a PIN: %+v", tk)
			}
			if !tk.NoSlot {
				slots[tk.Slot] = true
			}
		}
		for _, g := range c.Groups {
			if g.Slot > MaxSlot || slots[g.Slot] || len(g.Members) == 0 || (g.NewKeys == NewKeysReplicate && g.ReplicationKey == "") {
				t.Fatalf("accepted a bad group: %+v", g)
			}
			for _, m := range g.Members {
				if c.Token(m) == nil && c.Remote(m) == nil {
					t.Fatalf("group %s: member %q is no token and no remote", g.Name, m)
				}
			}
			slots[g.Slot] = true
		}
		for _, r := range c.Remotes {
			if r.URI == nil || (r.Endpoint.Network != "tls" && r.Endpoint.Network != "unix") || (r.Endpoint.Network == "tls") != (r.TLS != nil) {
				t.Fatalf("accepted a bad remote: %+v", r)
			}
		}
		for _, m := range c.Modules {
			if m.CallTimeout <= 0 || (m.Isolation != IsolationProcess && m.Isolation != IsolationShared && m.Isolation != IsolationInProcess) {
				t.Fatalf("accepted a bad module: %+v", m)
			}
		}
		for _, cl := range c.Clients {
			if cl.Name == "" || len(cl.UIDs)+len(cl.GIDs)+len(cl.CertNames) == 0 || (cl.Login != "client" && cl.Login != "broker") || cl.MaxSessions < 0 {
				t.Fatalf("accepted a bad client: %+v", cl)
			}
			for _, s := range cl.Slots {
				if !slots[s] {
					t.Fatalf("client %s: slot %d is no token's", cl.Name, s)
				}
			}
		}
		for _, e := range c.Listen {
			if strings.HasPrefix(e, "tls:") && c.TLS == nil || strings.HasPrefix(e, "tcp:") && !c.InsecureTCP {
				t.Fatalf("accepted %s with tls %v, insecure_tcp %v", e, c.TLS, c.InsecureTCP)
			}
		}
	})
}

// TestHandoff: Handoff names the module only when handoff = true is set
// on the config's one module.
func TestHandoff(t *testing.T) {
	lib := testLib(t)
	for _, c := range []struct {
		extra string
		want  bool
	}{
		{"isolation = \"shared\"\nhandoff = true\n", true},
		{"isolation = \"shared\"\nhandoff = false\n", false},
		{"isolation = \"shared\"\n", false},
	} {
		cfg, err := Parse([]byte(strings.ReplaceAll(head, "LIB", lib)+c.extra), "broker.toml")
		if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		if m := cfg.Handoff(); (m != nil) != c.want || m != nil && m.Name != "soft" {
			t.Errorf("%q: Handoff() = %v, want a module: %v", c.extra, m, c.want)
		}
	}
}
