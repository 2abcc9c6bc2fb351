#!/usr/bin/env bash
# For users with Docker: run the routing conformance suite on the kind cluster made by up.sh
# (Envoy Gateway), and write conformance-report-envoy-gateway.yaml.
# Not runnable on the project's CI machines (no Docker engine there).
set -euo pipefail
cd "$(dirname "$0")/../.."
svc=$(kubectl get svc -n envoy-gateway-system -l gateway.envoyproxy.io/owning-gateway-name=trino-gateway -o name | head -1)
kubectl port-forward -n envoy-gateway-system "$svc" 18080:80 >/dev/null 2>&1 &
pf=$!
trap 'kill $pf' EXIT
sleep 2
npx --no-install node conformance/run.ts --gateway-class eg --gateway trino-gateway/trino-gateway \
  --gateway-url http://127.0.0.1:18080 --coordinator-image ghcr.io/xtrinode/xtrinode-gateway-conformance:0.1.0 \
  --implementation-version "$(kubectl get deploy -n envoy-gateway-system envoy-gateway -o jsonpath='{.spec.template.spec.containers[0].image}')" \
  --report conformance-report-envoy-gateway.yaml
