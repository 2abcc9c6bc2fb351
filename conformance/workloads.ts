/** The coordinator Deployment of a conformance runtime (fake coordinator image). */
export function coordinatorDeployment(namespace: string, name: string, o: { image: string; suspended: boolean; oauth2?: boolean }): Record<string, unknown> {
  const app = `${name}-coordinator`;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: app, namespace,
      labels: { 'analytics.xtrinode.io/xtrinode': name, 'analytics.xtrinode.io/role': 'coordinator' },
    },
    spec: {
      replicas: o.suspended ? 0 : 1,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app } },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 65532 },
          containers: [{
            name: 'coordinator', image: o.image,
            args: ['conformance/fake-coordinator-main.ts'],
            env: [{ name: 'NAME', value: name }, { name: 'PORT', value: '8080' }, { name: 'OAUTH2', value: String(o.oauth2 === true) }],
            ports: [{ name: 'http', containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/v1/info', port: 'http' }, periodSeconds: 1 },
          }],
        },
      },
    },
  };
}
