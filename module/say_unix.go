//go:build !windows

package main

import (
	"fmt"
	"os"
)

// sayLast writes a line the application's user will see: its stderr.
func sayLast(line string) { fmt.Fprintln(os.Stderr, line) }
