/**
 * The fake coordinator as a process, for conformance runs in a real cluster (one pod each):
 *   NAME=c-host PORT=8080 OAUTH2=false node conformance/fake-coordinator-main.ts
 */
import { FakeCoordinator } from './fake-coordinator.ts';

const fake = new FakeCoordinator({ name: process.env.NAME ?? 'fake', oauth2: process.env.OAUTH2 === 'true' });
const port = await fake.start(Number(process.env.PORT ?? 8080), process.env.HOST ?? '0.0.0.0');
process.stdout.write(`fake Trino coordinator ${fake.name} on :${port}\n`);
process.on('SIGTERM', () => void fake.stop().then(() => process.exit(0)));
