// Package controller makes the config.ratify.deislabs.io resources of a
// cluster ratify's configuration, live: a controller-runtime manager whose
// reconcilers watch every kind Ratify v1.4 serves, check each resource on
// its own, keep the last valid version of each in one snapshot, and write
// the resource's status from what they observed (issuccess, error,
// brieferror; for key management providers also lastfetchedtime and
// properties).
//
// Changes are coalesced: a rebuild waits until Options.Debounce passes
// without a change (at most ten Debounces after the first), then compiles
// the whole snapshot into a new engine revision (Options.Apply), which the
// server swaps in while it keeps answering.
//
// A resource whose new spec is invalid never widens what is admitted: its
// last valid version stays in force and its status says why the new one
// was refused. A resource that was never valid is absent, and decisions
// that needed it say so (an unknown key management provider, no verifier
// for a signature type). A deleted resource is gone from the next rebuild.
//
// Every replica reconciles and serves from its own snapshot; only the one
// holding the Lease (leader election) writes status, so replicas never
// fight over it.
//
// # Permissions
//
// ratify needs, cluster-wide, on config.ratify.deislabs.io: get, list and
// watch on stores, namespacedstores, verifiers, namespacedverifiers,
// keymanagementproviders, namespacedkeymanagementproviders,
// certificatestores, policies and namespacedpolicies; get, update and
// patch on their /status. In its own namespace, on coordination.k8s.io
// leases: get, create and update (leader election). Check reports the
// first permission missing.
package controller
