// Package chart tests charts/ratify: its CRDs are those of crds/manifests,
// `helm lint` passes, each install path of docs/chart.md renders what its
// values say (helm template, parsed), and every rendering is accepted by a
// real kube-apiserver with ratify's and Gatekeeper's CRDs (server-side dry
// run), lookups included (helm install --dry-run=server).
package chart
