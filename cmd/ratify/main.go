// Command ratify verifies that container images carry trusted signatures.
//
// Verification is a set of functions inside a policy engine; this binary
// exposes the engine to clusters (serve), terminals and CI (verify,
// discover) and policy authors (policy test).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
