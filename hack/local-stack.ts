/**
 * `npm start`: the local stack (see hack/stack.ts) with the seed examples, until Ctrl-C.
 * `npm start -- --gateway envoy` runs it on Envoy Gateway with Envoy instead of Traefik (the
 * default; XTRINODE_GATEWAY=envoy does the same).
 */
import { parseArgs } from 'node:util';
import { startStack, gatewayFromEnv } from './stack.ts';
import { join } from 'node:path';
import { TRINO_JAVA_HOME } from './trino.ts';
import { REPO_ROOT, componentDir } from '../test/components.ts';

const { values } = parseArgs({ options: { gateway: { type: 'string' } } });
const stack = await startStack({ gateway: gatewayFromEnv(values.gateway ?? process.env.XTRINODE_GATEWAY), logsDir: join(REPO_ROOT, '.logs/local-stack') });
const p = stack.gatewayPort;
// --enable-native-access and a dumb terminal keep JDK 25's restricted-method and jline warnings out.
const cli = `${TRINO_JAVA_HOME}/bin/java --enable-native-access=ALL-UNNAMED -Dorg.jline.terminal.dumb=true -Djdk.net.hosts.file=${stack.hostsFile} -jar ${stack.trinoCliJar}`;
const python = `${join(componentDir('python-trino'), 'bin/python')} ${join(REPO_ROOT, 'conformance/clients/python_query.py')} http://127.0.0.1:${stack.gatewayPort}`;
process.stdout.write(`
xtrinode-gateway local stack is up (Gateway API implementation: ${stack.gatewayVersion}; listener 127.0.0.1:${p})
${stack.realTrino.ok ? 'Group "shared" runs on two real Trino 476 coordinators; the other runtimes are fake coordinators.' : `Real Trino unavailable (${stack.realTrino.reason}): fake coordinators everywhere.`}

  export KUBECONFIG=${stack.cp.kubeconfig}
  kubectl get xtrinode -A; kubectl get httproute -n trino-gateway     (if you have kubectl)

Connect with the Trino CLI (the hosts file maps the example hostnames to 127.0.0.1):
  hostname routing, shared group:  ${cli} --server http://shared.trino.example.com:${p} --user me --catalog tpch --schema tiny --execute 'SELECT count(*) FROM nation'
  hostname routing, runtime-a:     ${cli} --server http://production--runtime-a.trino.example.com:${p} --user me --execute 'SELECT 1'
  explicit hostname, analytics:    ${cli} --server http://analytics.example.com:${p} --user me --execute 'SELECT 1'
  default route:                   ${cli} --server http://127.0.0.1:${p} --user me --execute 'SELECT 1'
  header selector (python client): ${python} production/runtime-a 'SELECT 1'
  unknown selector (fails):        curl -H 'X-Trino-XTrinode: nope' -H 'X-Trino-User: me' -d 'SELECT 1' http://127.0.0.1:${p}/v1/statement

Suspend a runtime (its coordinator process stops), then query it: the query waits while it starts again (with kubectl):
  kubectl -n production patch xtrinode runtime-a --type merge -p '{"spec":{"suspend":true}}'
  ${cli} --server http://production--runtime-a.trino.example.com:${p} --user me --execute 'SELECT 1'

Every query's polls go to http://<host>/xtrinode/c/<namespace>/<name>/...: the coordinator's prefix
route (kubectl get httproute -n trino-gateway -o yaml shows them).

Logs: ${stack.logsDir}/ (apiserver, ${stack.gateway === 'envoy' ? 'envoy-gateway (with Envoy\'s access log)' : 'traefik'}, controller, router, trino-*; kept after Ctrl-C)
Ctrl-C stops everything (Trino gets SIGTERM and time to exit).
`);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('stopping...\n');
  void stack.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => undefined, 1 << 30);
