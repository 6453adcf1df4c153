package opa

import (
	"errors"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// excluded are the OPA builtins that ratify policies cannot call, with the
// reason. Policies come from tenants (a NamespacedPolicy is written by
// whoever administers a namespace), and the security model says they cannot
// reach the network or the process environment: these builtins do one or
// the other (or read the file system), so they are left out of the
// capabilities every ratify policy is compiled with, and a policy calling
// one fails to compile. This list is the only place the set is kept.
//
// Judged and kept, because they only compute: time.now_ns and the other
// time.* functions (the clock; time zones are read from the zoneinfo
// database), rand.intn and uuid.rfc4122 (randomness), io.jwt.* and
// crypto.* (their keys and certificates are arguments, never fetched),
// providers.aws.sign_req (signs a request it is given; it sends nothing),
// print and trace (to the evaluation's own hooks), rego.metadata.* and
// rego.parse_module.
var excluded = map[string]string{
	// Sends any HTTP request (a cloud metadata endpoint, the API server,
	// any service of the cluster network) and reads TLS material from the
	// files and environment variables its arguments name
	// (tls_client_cert_file, tls_ca_cert_env_variable, ...).
	"http.send": "it sends HTTP requests and reads files and environment variables named by its arguments",
	// Returns the process environment (every environment variable, so any
	// credential given to ratify that way) and OPA's configuration.
	"opa.runtime": "it returns the process environment",
	// Both resolve a schema's "$ref": an http(s) URL is fetched, a file://
	// URL is read from the local file system, so a schema is a request.
	"json.match_schema":  "it fetches the http(s) and file:// URLs a schema's $ref names",
	"json.verify_schema": "it fetches the http(s) and file:// URLs a schema's $ref names",
}

// excludedPrefixes are namespaces excluded as a whole. net.lookup_ip_addr
// resolves names over DNS; the net.cidr_* functions only compute, but the
// namespace goes as one, so that a network function a later OPA adds to it
// is excluded without a change here (and ratify's input carries no
// addresses for them to compare).
var excludedPrefixes = map[string]string{
	"net.": "net.* builtins reach the network (net.lookup_ip_addr resolves names over DNS)",
}

// Excluded reports whether the OPA builtin name is unavailable to ratify
// policies, and why.
func Excluded(name string) (reason string, ok bool) {
	if r, ok := excluded[name]; ok {
		return r, true
	}
	for p, r := range excludedPrefixes {
		if strings.HasPrefix(name, p) {
			return r, true
		}
	}
	return "", false
}

// Capabilities are the capabilities ratify policies are compiled with: the
// capabilities of the OPA ratify embeds (ast.CapabilitiesForThisVersion)
// with ratify's builtins registered, minus the builtins that reach outside
// the process or read its environment (see Excluded), and with no host
// allowed for remote schema references. The engine compiles every policy
// with them, `ratify policy test` runs tests with them, and `ratify policy
// capabilities` writes them, so `opa check --capabilities` rejects what the
// server rejects. Each call returns a new value.
func Capabilities() *ast.Capabilities {
	Register()
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool {
		_, ok := Excluded(b.Name)
		return ok
	})
	// Empty, not nil: no host at all (nil would mean any host).
	c.AllowNet = []string{}
	return c
}

// explainExcluded adds to OPA's "undefined function" errors about an
// excluded builtin that the builtin exists but is not available to ratify
// policies, and why. It returns the compiler's errors so explained, or err
// when none is about an excluded builtin.
func explainExcluded(err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return err
	}
	explained := false
	for _, e := range errs {
		if e == nil || e.Code != ast.TypeErr {
			continue
		}
		name, ok := strings.CutPrefix(e.Message, "undefined function ")
		if !ok {
			continue
		}
		if why, ok := Excluded(name); ok {
			e.Message += ": " + name + " is not available to ratify policies, which cannot reach the network, the file system or the process environment (" + why + ")"
			explained = true
		}
	}
	if !explained {
		return err
	}
	// The wrappers around errs (OPA's "bundle activation failed: ...")
	// hold the message as it was.
	return errs
}
