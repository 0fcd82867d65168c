//go:build ignore

// mage.go runs the magefile without installing mage: `go run mage.go <target>`.
package main

import (
	"os"

	"github.com/magefile/mage/mage"
)

func main() { os.Exit(mage.Main()) }
