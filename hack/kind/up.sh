#!/usr/bin/env bash
# For users with Docker: a kind cluster with the Gateway API CRDs, Envoy Gateway as the
# implementation, xtrinode-gateway installed and the seed examples applied.
# Not runnable on the project's CI machines (no Docker engine there).
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER=${CLUSTER:-xtrinode}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-v1.6.3}
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER"
kubectl apply --server-side -f "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/standard-install.yaml"
helm upgrade --install eg oci://docker.io/envoyproxy/gateway-helm -n envoy-gateway-system --create-namespace --wait
# The image from the same file tree the tests run (hack/image.ts), built by Docker; and the
# conformance image, which adds the fake coordinator (never deploy that one).
npm run image -- --builder docker --tag ghcr.io/xtrinode/xtrinode-gateway:0.1.0
npm run image -- --builder docker --with-fake-coordinator --tag ghcr.io/xtrinode/xtrinode-gateway-conformance:0.1.0
kind load docker-image ghcr.io/xtrinode/xtrinode-gateway:0.1.0 --name "$CLUSTER"
kind load docker-image ghcr.io/xtrinode/xtrinode-gateway-conformance:0.1.0 --name "$CLUSTER"
kubectl get namespace trino-gateway >/dev/null 2>&1 || kubectl create namespace trino-gateway
# The router replicas' shared secret (required by the router Deployment), created once.
kubectl -n trino-gateway get secret xtrinode-router >/dev/null 2>&1 ||
  kubectl -n trino-gateway create secret generic xtrinode-router --from-literal=router-secret="$(openssl rand -base64 32)"
kubectl apply -k manifests/   # its kustomization names the image tag built above
kubectl apply -f - <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: trino-gateway, namespace: trino-gateway}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: Same}}}]
YAML
kubectl create namespace production --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f examples/
echo "kubectl get xtrinode -A; kubectl get httproute -n trino-gateway"
