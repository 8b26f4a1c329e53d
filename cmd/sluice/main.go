// Command sluice is the single Sluice binary: the broker, the platform
// services and the client commands. Everything lives in internal/cli.
package main

import (
	"os"

	"github.com/sluicehq/sluice/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
