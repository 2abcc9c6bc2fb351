/**
 * End to end through Envoy Gateway v1.9 with Envoy 1.39: conformance/local-conformance.ts on the
 * local stack with Envoy Gateway as the Gateway API implementation (hack/envoy-gateway.ts). The
 * same cases as through Traefik, on an implementation that ranks routes its own way and does not
 * fill GatewayClass.status.supportedFeatures.
 */
import { localConformance } from './local-conformance.ts';

localConformance('envoy', { fakeChecks: false });
