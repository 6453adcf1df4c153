#!/usr/bin/env bash
# make demo: a local distribution registry on loopback, an image pushed to it
# and signed by the real notation and cosign CLIs, then `ratify discover`
# listing both signatures. Everything lives in a temporary directory that is
# removed at the end; the registry is stopped.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
test/tools/install.sh registry notation cosign crane >/dev/null
make -s build
tools=${RATIFY_TOOLS_DIR:-$repo/.tools}/bin

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export HOME=$work XDG_CONFIG_HOME=$work/.config DOCKER_CONFIG=$work/.docker COSIGN_PASSWORD= TUF_ROOT=$work/.sigstore

port=${DEMO_PORT:-5055}
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: 127.0.0.1:$port}
YAML
"$tools/registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then break; fi
  sleep 0.1
done
host=127.0.0.1:$port

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

echo "demo image" >"$work/hello.txt"
tar -C "$work" -cf "$work/layer.tar" hello.txt
step crane append -f layer.tar -t $host/ratify-demo/net-monitor:v1
ref=$("$tools/crane" append --insecure -f "$work/layer.tar" -t "$host/ratify-demo/net-monitor:v1" 2>/dev/null)
echo "$ref"

step notation cert generate-test --default ratify-demo
(cd "$work" && "$tools/notation" cert generate-test --default ratify-demo >/dev/null)
step notation sign --insecure-registry "$ref"
"$tools/notation" sign --insecure-registry "$ref"

step cosign generate-key-pair
(cd "$work" && "$tools/cosign" generate-key-pair >/dev/null 2>&1)
step cosign sign --key cosign.key --tlog-upload=false "$ref"
(cd "$work" && "$tools/cosign" sign --key cosign.key --tlog-upload=false --allow-insecure-registry --yes "$ref" 2>&1 | tail -1)

step ratify discover -s $host/ratify-demo/net-monitor:v1 --plain-http
bin/ratify discover -s "$host/ratify-demo/net-monitor:v1" --plain-http

step ratify discover -s $host/ratify-demo/net-monitor:v1 --plain-http -o json
bin/ratify discover -s "$host/ratify-demo/net-monitor:v1" --plain-http -o json
