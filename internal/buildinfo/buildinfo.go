// Package buildinfo carries the version stamped into the binary at build time.
package buildinfo

import "runtime/debug"

// Version is set by the Makefile with -ldflags "-X .../buildinfo.Version=...".
var Version = ""

// String returns the build version, falling back to the module version
// recorded by the Go toolchain, or "dev" for an unstamped build.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
