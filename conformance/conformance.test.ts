/**
 * End to end through Traefik: conformance/local-conformance.ts on the local stack with Traefik
 * v3.7 as the Gateway API implementation, and the fake coordinator checked against real Trino.
 */
import { localConformance } from './local-conformance.ts';

localConformance('traefik', { fakeChecks: true });
