#!/usr/bin/env bash
# Builds the pinned test tools (real components the tests run against) into a
# git-ignored cache, skipping any tool whose pinned version is already there.
#
#   test/tools/install.sh            # build what is missing
#   test/tools/install.sh registry   # only the named tools
#   test/tools/install.sh ratify-v1.4.4   # a benchmark peer (PEERS below)
#
# The cache is $RATIFY_TOOLS_DIR, default <repo>/.tools. Each tool lands in
# bin/<name> with a stamp file recording the module version it was built from,
# so changing a pin below rebuilds just that tool.
#
# Some modules cannot be installed with `go install mod/cmd@version` (replace
# directives, no version list on the proxy), so every tool is built the same
# way: inside a throw-away module that requires the pinned version. Tools
# from the same module (kube-apiserver and kubectl) share one throw-away
# module, so its dependencies are resolved and compiled once.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RATIFY_TOOLS_DIR:-$repo/.tools}
bin=$cache/bin
mkdir -p "$bin"

# name | module@version | main package
#
# etcd is the version k8s.io/kubernetes requires; controller-runtime's envtest
# finds etcd, kube-apiserver and kubectl by these names in bin/.
TOOLS=(
  "registry|github.com/distribution/distribution/v3@v3.1.2|github.com/distribution/distribution/v3/cmd/registry"
  "notation|github.com/notaryproject/notation@v1.3.2|github.com/notaryproject/notation/cmd/notation"
  "cosign|github.com/sigstore/cosign/v2@v2.6.2|github.com/sigstore/cosign/v2/cmd/cosign"
  "controller-gen|sigs.k8s.io/controller-tools@v0.23.0|sigs.k8s.io/controller-tools/cmd/controller-gen"
  "crane|github.com/google/go-containerregistry@v0.22.1|github.com/google/go-containerregistry/cmd/crane"
  "opa|github.com/open-policy-agent/opa@v1.22.2|github.com/open-policy-agent/opa"
  "etcd|go.etcd.io/etcd/server/v3@v3.7.0|go.etcd.io/etcd/server/v3"
  "kube-apiserver|k8s.io/kubernetes@v1.37.2|k8s.io/kubernetes/cmd/kube-apiserver"
  "kubectl|k8s.io/kubernetes@v1.37.2|k8s.io/kubernetes/cmd/kubectl"
  "gatekeeper|github.com/open-policy-agent/gatekeeper/v3@v3.23.1|github.com/open-policy-agent/gatekeeper/v3"
  "helm|helm.sh/helm/v3@v3.22.0|helm.sh/helm/v3/cmd/helm"
)

# Benchmark peers: other implementations that `make bench-compare` measures
# beside ratify. No test needs them, so they are built only when named (the
# list above is what a call without names builds), and they never enter the
# product's go.mod: like every tool they are built in a throw-away module.
PEERS=(
  "ratify-v1.4.4|github.com/ratify-project/ratify@v1.4.4|github.com/ratify-project/ratify/cmd/ratify"
)

want=("$@")
# A tool is selected when named, or when nothing is named; a peer only
# when named.
peer() {
  local t
  for t in "${PEERS[@]}"; do [ "${t%%|*}" = "$1" ] && return 0; done
  return 1
}
selected() {
  [ ${#want[@]} -eq 0 ] && ! peer "$1" && return 0
  local w
  for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

cached() {
  local name=$1 modver=$2
  [ -x "$bin/$name" ] && [ "$(cat "$bin/.$name.version" 2>/dev/null)" = "$modver" ]
}

# k8s.io/kubernetes replaces each of its staging modules (k8s.io/api,
# k8s.io/client-go, ...) by a directory of its own tree, which a module that
# requires it does not have. Each staging module is also published on its
# own, as v0.Y.Z for kubernetes v1.Y.Z: the throw-away module replaces every
# one that kubernetes' go.mod lists with that version.
k8s_replaces() {
  local ver=$1 gomod m
  gomod=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$ver")
  # The module path is the word before "=>", in a replace block or on a
  # one-line replace directive alike.
  for m in $(awk '{ for (i = 2; i <= NF; i++) if ($i == "=>" && $(i+1) ~ /^\.\/staging\//) print $(i-1) }' "$gomod"); do
    go mod edit -replace="$m=$m@v0.${ver#v1.}"
  done
}

# Kubernetes binaries learn their version from the linker, as its release
# build sets it: without it they report v0.0.0-master, which fails version
# checks such as a chart's kubeVersion.
k8s_ldflags() {
  local ver=$1 minor=${1#v1.} p k
  minor=${minor%%.*}
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for k in gitVersion=$ver gitMajor=1 gitMinor=$minor gitTreeState=clean; do
      printf -- '-X %s.%s ' "$p" "$k"
    done
  done
}

# Ratify reports the version its release build sets with the linker.
ratify_ldflags() {
  printf -- '-X github.com/ratify-project/ratify/internal/version.GitTag=%s' "$1"
}

# A peer's go.mod may require pseudo-versions that the checksum database
# does not know (Ratify v1.4.4 does, for Gatekeeper's frameworks): the
# throw-away module starts from the peer's own go.sum, the hashes its
# release was built and tested with, so those are checked against it
# instead of looked up.
seed_sum() {
  local modver=$1 dir
  dir=$(go mod download -json "$modver" | awk -F'"' '$2 == "Dir" { print $4 }')
  if [ -f "$dir/go.sum" ]; then
    cp "$dir/go.sum" go.sum
    chmod u+w go.sum
  fi
}

# build MODULE@VERSION NAME|PACKAGE...: the named tools, from one module.
build() {
  local modver=$1
  shift
  local mod=${modver%@*} ver=${modver##*@} t name pkg names=()
  for t in "$@"; do names+=("${t%%|*}"); done
  echo "tools: building ${names[*]} from $modver"
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (
    cd "$work"
    export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
    go mod init ratify-tools/"${names[0]}" >/dev/null 2>&1
    local ldflags=
    if [ "$mod" = k8s.io/kubernetes ]; then
      k8s_replaces "$ver"
      ldflags=$(k8s_ldflags "$ver")
    fi
    if peer "${names[0]}"; then
      seed_sum "$modver"
    fi
    if [ "$mod" = github.com/ratify-project/ratify ]; then
      ldflags=$(ratify_ldflags "$ver")
    fi
    go get "$modver" >/dev/null
    for t in "$@"; do
      IFS='|' read -r name pkg <<<"$t"
      go get "$pkg@$ver" >/dev/null
    done
    for t in "$@"; do
      IFS='|' read -r name pkg <<<"$t"
      go build -trimpath -ldflags="$ldflags" -o "$bin/$name.tmp" "$pkg"
    done
  )
  for t in "$@"; do
    name=${t%%|*}
    mv "$bin/$name.tmp" "$bin/$name"
    echo "$modver" >"$bin/.$name.version"
  done
}

pending=()
for t in "${TOOLS[@]}" "${PEERS[@]}"; do
  IFS='|' read -r name modver pkg <<<"$t"
  selected "$name" || continue
  if cached "$name" "$modver"; then
    echo "tools: $name ($modver) cached"
  else
    pending+=("$t")
  fi
done

# One build per module, in table order, with every pending tool of it.
built=" "
for t in "${pending[@]}"; do
  IFS='|' read -r _ modver _ <<<"$t"
  case $built in *" $modver "*) continue ;; esac
  built+="$modver "
  group=()
  for u in "${pending[@]}"; do
    IFS='|' read -r name m pkg <<<"$u"
    [ "$m" = "$modver" ] && group+=("$name|$pkg")
  done
  build "$modver" "${group[@]}"
done
# Gatekeeper's CRDs ship in its module (charts/gatekeeper/crds/), not in
# its binary: they are copied into the cache as gatekeeper-crds/, stamped
# with the module version like a binary, so that the CRDs a test applies are
# those of the gatekeeper it runs. The copy is made whenever gatekeeper is
# selected, so a cached binary without its CRDs gets them too.
gatekeeper_crds() {
  local modver=$1 dest=$cache/gatekeeper-crds stamp=$cache/.gatekeeper-crds.version src tmp
  if [ -d "$dest" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$modver" ]; then
    echo "tools: gatekeeper CRDs ($modver) cached"
    return
  fi
  echo "tools: copying gatekeeper CRDs from $modver"
  # Outside any module, so that the download cannot touch a go.mod or go.sum.
  tmp=$(mktemp -d)
  src=$(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$modver" |
    awk -F'"' '$2 == "Dir" { print $4 }')
  rmdir "$tmp"
  src=$src/charts/gatekeeper/crds
  if ! ls "$src"/*.yaml >/dev/null 2>&1; then
    echo "tools: no CRDs in $src" >&2
    return 1
  fi
  # The module cache is read-only: the copy is made writable, in a temporary
  # folder first so that an interrupted copy never looks complete.
  rm -rf "$dest.tmp"
  cp -R "$src" "$dest.tmp"
  chmod -R u+w "$dest.tmp"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  echo "$modver" >"$stamp"
}

for t in "${TOOLS[@]}"; do
  IFS='|' read -r name modver _ <<<"$t"
  if [ "$name" = gatekeeper ] && selected gatekeeper; then
    gatekeeper_crds "$modver"
  fi
done

echo "tools: ready in $bin"
