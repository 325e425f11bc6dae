package client

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows/registry"
)

// Windows services rarely get environment variables, so the client finds
// its config file by itself: %ProgramData%\gop11\client.toml, else the
// file the registry value HKLM\SOFTWARE\gop11\Config names. GOP11_CONFIG
// and GOP11_BROKER still win when set, as on Linux: an administrator sets
// them for one process on purpose. There is no default broker, and no
// unix sockets: tls:// only.

// DefaultEndpoint: none.
const DefaultEndpoint = ""

// transports are the endpoint schemes this platform's client dials.
var transports = []string{"tls"}

const whereToName = `put "broker" in %ProgramData%\gop11\client.toml, or name a config file in the registry value HKLM\SOFTWARE\gop11\Config, or set GOP11_BROKER`

// RegistryKey and RegistryValue name the config file when ProgramData has
// none.
const (
	RegistryKey   = `SOFTWARE\gop11`
	RegistryValue = "Config"
)

func defaultFile(getenv func(string) string) string {
	pd := getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	if p := filepath.Join(pd, "gop11", "client.toml"); exists(p) {
		return p
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, RegistryKey, registry.QUERY_VALUE)
	if err != nil {
		return ""
	}
	defer k.Close()
	p, _, err := k.GetStringValue(RegistryValue)
	if err != nil {
		return ""
	}
	// Named on purpose: a missing file is an error (readFile), not skipped.
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
