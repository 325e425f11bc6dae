//go:build !windows

package client

import (
	"os"
	"path/filepath"
)

// DefaultEndpoint is used when nothing else names the broker.
const DefaultEndpoint = "unix:///run/gop11/gop11.sock"

// transports are the endpoint schemes this platform's client dials; nil:
// every scheme wire.ParseEndpoint knows.
var transports []string

const whereToName = ""

// defaultFile is the first of the user's and the system's client.toml
// that exists, or "".
func defaultFile(getenv func(string) string) string {
	var paths []string
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		paths = append(paths, filepath.Join(x, "gop11", "client.toml"))
	} else if h := getenv("HOME"); h != "" {
		paths = append(paths, filepath.Join(h, ".config", "gop11", "client.toml"))
	}
	for _, p := range append(paths, "/etc/gop11/client.toml") {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
