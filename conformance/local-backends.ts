/**
 * Backend provider for the local stack (hack/stack.ts): coordinators are processes on loopback
 * ClusterIPs, each with its Deployment; the stack's kubelet stand-in stops and starts them as the
 * controller scales those Deployments (suspend and resume).
 */
import type { Stack } from '../hack/stack.ts';
import type { BackendProvider } from './suite.ts';

export function localBackends(stack: Stack): BackendProvider {
  return {
    name: 'local-stack',
    oauth2: true,
    realTrino: stack.realTrino.ok,
    async coordinator(namespace, name, opts = {}) {
      const c = await stack.addCoordinator(namespace, name, { kind: opts.realTrino ? 'trino' : 'fake', ...(opts.oauth2 ? { oauth2: true } : {}), ...(opts.suspended ? { suspended: true } : {}) });
      await c.started;
      return { identity: opts.realTrino ? undefined : name };
    },
  };
}
