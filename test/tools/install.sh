#!/usr/bin/env bash
# Builds the pinned test tools (real components the tests run against) into a
# git-ignored cache, skipping any tool whose pinned version is already there.
#
#   test/tools/install.sh            # build what is missing
#   test/tools/install.sh registry   # only the named tools
#
# The cache is $RATIFY_TOOLS_DIR, default <repo>/.tools. Each tool lands in
# bin/<name> with a stamp file recording the module version it was built from,
# so changing a pin below rebuilds just that tool.
#
# Some modules cannot be installed with `go install mod/cmd@version` (replace
# directives, no version list on the proxy), so every tool is built the same
# way: inside a throw-away module that requires the pinned version.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${RATIFY_TOOLS_DIR:-$repo/.tools}
bin=$cache/bin
mkdir -p "$bin"

# name | module@version | main package
TOOLS=(
  "registry|github.com/distribution/distribution/v3@v3.1.2|github.com/distribution/distribution/v3/cmd/registry"
  "notation|github.com/notaryproject/notation@v1.3.2|github.com/notaryproject/notation/cmd/notation"
  "cosign|github.com/sigstore/cosign/v2@v2.6.2|github.com/sigstore/cosign/v2/cmd/cosign"
  "controller-gen|sigs.k8s.io/controller-tools@v0.23.0|sigs.k8s.io/controller-tools/cmd/controller-gen"
  "crane|github.com/google/go-containerregistry@v0.22.1|github.com/google/go-containerregistry/cmd/crane"
  "opa|github.com/open-policy-agent/opa@v1.22.2|github.com/open-policy-agent/opa"
)

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w
  for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

build() {
  local name=$1 modver=$2 pkg=$3
  local stamp=$bin/.$name.version
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$modver" ]; then
    echo "tools: $name ($modver) cached"
    return 0
  fi
  echo "tools: building $name from $modver"
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  (
    cd "$work"
    export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
    go mod init ratify-tools/"$name" >/dev/null 2>&1
    go get "$modver" >/dev/null
    go get "$pkg@${modver##*@}" >/dev/null
    go build -trimpath -o "$bin/$name.tmp" "$pkg"
  )
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$modver" >"$stamp"
}

for t in "${TOOLS[@]}"; do
  IFS='|' read -r name modver pkg <<<"$t"
  selected "$name" && build "$name" "$modver" "$pkg"
done
echo "tools: ready in $bin"
