// Package gatekeeper runs the real Gatekeeper binary (built by
// test/tools/install.sh) out of cluster, against a test/cluster control
// plane: its CRDs, the placeholder Pod it writes status for, its serving
// certificate and the gatekeeper-webhook-server-cert Secret, and its
// webhooks registered by URL with the Helm chart's settings.
//
// There is no kubelet and no cluster DNS here, yet Gatekeeper calls a
// Provider's url as written, such as https://ratify.gatekeeper-system:6001/.
// The names in Options.Hosts resolve to 127.0.0.1 inside the gatekeeper
// process only: it runs in a mount namespace of its own, where a temporary
// hosts file (the machine's /etc/hosts plus those names) is bind-mounted over
// /etc/hosts. The machine's /etc/hosts is never touched, and nothing else
// on the machine sees the names. The wrapper that makes the mount is the
// test binary itself, run again with an environment variable that this
// package's init checks (see wrapper.go); it needs the right to create a
// mount namespace (root), or Start skips the test (fails it when CI=true).
//
// Gatekeeper presents its serving certificate (tls.crt in its cert dir) as
// its client certificate to every provider that asks for one, so a provider
// that requires mutual TLS with the ca.crt of gatekeeper-webhook-server-cert
// accepts it: the serving certificate is issued for client authentication
// too, as Gatekeeper's own rotator issues it when external data is on.
package gatekeeper
