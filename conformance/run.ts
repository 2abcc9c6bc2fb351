/**
 * Runs the routing conformance suite and writes the report.
 *
 * Against your cluster (xtrinode-gateway installed, a Gateway of the class under test that the
 * controller's GATEWAY points at, and the Gateway listener reachable from here):
 *   node conformance/run.ts --gateway-class eg --gateway trino-gateway/trino-gateway \
 *     --gateway-url http://127.0.0.1:8080 --coordinator-image ghcr.io/xtrinode/xtrinode-gateway:0.1.0 \
 *     [--kubeconfig ~/.kube/config] [--implementation-version v1.5.0] [--report report.yaml]
 *
 * On the local stack (no cluster needed; Traefik):
 *   node conformance/run.ts --local-stack [--report report.yaml]   (XTRINODE_GATEWAY=envoy for Envoy Gateway)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { runConformance, type ConformanceContext } from './suite.ts';
import { clusterBackends } from './cluster-backends.ts';

const { values } = parseArgs({
  options: {
    'local-stack': { type: 'boolean' },
    kubeconfig: { type: 'string' },
    'gateway-class': { type: 'string' },
    gateway: { type: 'string', default: 'trino-gateway/trino-gateway' },
    'gateway-url': { type: 'string' },
    'coordinator-image': { type: 'string', default: 'ghcr.io/xtrinode/xtrinode-gateway:0.1.0' },
    'implementation-version': { type: 'string' },
    report: { type: 'string', default: 'conformance-report.yaml' },
    only: { type: 'string', multiple: true },
  },
});
const log = (l: string) => process.stderr.write(`${l}\n`);
let ctx: ConformanceContext;
let stop = async () => undefined as void;
if (values['local-stack']) {
  const { startStack, GATEWAY } = await import('../hack/stack.ts');
  const { localBackends } = await import('./local-backends.ts');
  const stack = await startStack({ examples: false });
  stop = () => stack.stop();
  ctx = { kubeConfig: stack.kubeConfig, gateway: GATEWAY, gatewayClass: stack.gatewayClass, gatewayUrl: stack.gatewayUrl, backends: localBackends(stack), implementationVersion: `${stack.gatewayVersion}, local stack`, log };
} else {
  if (!values['gateway-class'] || !values['gateway-url']) {
    log('error: give --gateway-class and --gateway-url (or --local-stack); see the comment at the top of conformance/run.ts');
    process.exit(2);
  }
  const kubeConfig = new k8s.KubeConfig();
  if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();
  const [namespace, name] = values.gateway!.split('/') as [string, string];
  ctx = {
    kubeConfig, gateway: { namespace, name }, gatewayClass: values['gateway-class'], gatewayUrl: values['gateway-url'],
    backends: clusterBackends(kubeConfig, values['coordinator-image']!),
    ...(values['implementation-version'] ? { implementationVersion: values['implementation-version'] } : {}),
    log,
  };
}
try {
  const report = await runConformance(ctx, values.only ? { only: values.only } : {});
  writeFileSync(values.report!, stringify(report, { lineWidth: 0 }));
  log(`\n${report.summary.passed} passed, ${report.summary.failed} failed, ${report.summary.skipped} skipped; report: ${values.report}`);
  process.exitCode = report.summary.failed > 0 ? 1 : 0;
} finally {
  await stop();
}
