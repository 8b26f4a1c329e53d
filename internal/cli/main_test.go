package cli

import (
	"os"
	"testing"
)

// cliMainEnv makes the test binary act as the sluice command: `sluice
// serve` starts its Connect workers from os.Executable(), which in tests is
// this binary, so a child started with the variable set (children inherit
// it) runs Main on its arguments instead of the tests.
const cliMainEnv = "SLUICE_CLI_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(cliMainEnv) == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	if err := os.Setenv(cliMainEnv, "1"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
