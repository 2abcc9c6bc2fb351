/**
 * The least a Node proxy can do, for the router benchmark's reference: node:http in front of an
 * undici Pool, headers passed through unchanged, no routing, checks, metrics or timeouts. What
 * the router costs beyond it is the router's own; what it costs beyond haproxy is Node's.
 *
 *   node bench/node-floor.ts <port> <origin URL>
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, origin] = [Number(process.argv[2]), process.argv[3]!];
const pool = new Pool(origin, { connections: 128, pipelining: 1 });
createServer((req, res) => {
  pool.stream(
    { path: req.url!, method: req.method as 'GET', headers: req.headers },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, headers as Record<string, string>);
      return res;
    },
    (err) => {
      if (err) res.destroy();
    },
  );
}).listen(port, '127.0.0.1');
