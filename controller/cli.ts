/**
 * The `xtrinode` command.
 *
 *   xtrinode render -f examples/ [-f more.yaml] [--gateway NS/NAME[/SECTION]] ...
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatProblem, listInputFiles, loadInput, render } from './render.ts';
import { DEFAULT_SETTINGS, parseChoice, parseGatewayRef, parseNamespaceList, parseServiceRef, type GatewaySettings } from './translate/settings.ts';

const RENDER_HELP = `Usage: xtrinode render -f <file-or-dir> [-f ...] [options]

Prints the HTTPRoutes, ReferenceGrants and the route table ConfigMap that the controller would
apply for the given XTrinodes, as multi-document YAML on stdout, and one status line per XTrinode
on stderr. Invalid XTrinodes are reported on stderr (file:line, object, field) and left out; the
valid ones still render; the exit code is then 1. Safe to pipe: xtrinode render -f dir | kubectl apply -f -

Options:
  -f, --filename PATH           YAML/JSON file or directory (recursive); repeatable; '-' for stdin
  --gateway NS/NAME[/SECTION]   Gateway the HTTPRoutes attach to      (default: ${DEFAULT_SETTINGS.gateway.namespace}/${DEFAULT_SETTINGS.gateway.name})
  --gateway-namespace NS        namespace of HTTPRoutes and ConfigMap (default: the Gateway's namespace)
  --router-service [NS/]NAME[:PORT]  the router Service             (default: ${DEFAULT_SETTINGS.router.name}:${DEFAULT_SETTINGS.router.port} in the gateway namespace)
  --shared-groups router|gateway-weighted
                                who chooses the coordinator of a new statement in a shared group
                                (default: router; gateway-weighted needs a Gateway with
                                HTTPRouteBackendRequestHeaderModification; see README)
  --follow-ups prefix|router    how follow-ups reach their coordinator (default: prefix: by URL,
                                /xtrinode/c/<namespace>/<name>; router: learned by the router)
  --accept-rules-from NS[,NS]   namespaces whose routing rules are in force without the default
                                route owner's consent (* for all; default: none)
  --routing-group-header on|off X-Trino-Routing-Group: <group> selects a group (default: on)
  --client-tag-matches regex|none
                                client tags as RegularExpression header matches (default), or left
                                to the router for a Gateway without them
  --check-services              report missing coordinator Services even when the input has none
                                (by default Services are checked only if the input contains some)
  -h, --help                    this help
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(`Usage: xtrinode <command>\n\nCommands:\n  render   print the Gateway API objects generated from XTrinode files\n\n${RENDER_HELP}`);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'render') {
    process.stderr.write(`error: unknown command "${command}"; try: xtrinode render --help\n`);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        gateway: { type: 'string' },
        'gateway-namespace': { type: 'string' },
        'router-service': { type: 'string' },
        'shared-groups': { type: 'string' },
        'follow-ups': { type: 'string' },
        'accept-rules-from': { type: 'string' },
        'routing-group-header': { type: 'string' },
        'client-tag-matches': { type: 'string' },
        'check-services': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n\n${RENDER_HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(RENDER_HELP);
    return 0;
  }
  if (!values.filename || values.filename.length === 0) {
    process.stderr.write(`error: no input; give -f <file-or-dir>\n\n${RENDER_HELP}`);
    return 2;
  }
  let settings: GatewaySettings;
  try {
    const gateway = values.gateway ? parseGatewayRef(values.gateway) : DEFAULT_SETTINGS.gateway;
    const gatewayNamespace = values['gateway-namespace'] ?? gateway.namespace;
    const router = values['router-service'] ? parseServiceRef(values['router-service'], gatewayNamespace) : { ...DEFAULT_SETTINGS.router, namespace: gatewayNamespace };
    const sharedGroupPath = parseChoice('--shared-groups', values['shared-groups'] ?? 'router', ['router', 'gateway-weighted'] as const);
    const followUps = parseChoice('--follow-ups', values['follow-ups'] ?? 'prefix', ['prefix', 'router'] as const);
    const acceptRulesFrom = parseNamespaceList('--accept-rules-from', values['accept-rules-from'] ?? '');
    const routingGroupHeader = parseChoice('--routing-group-header', values['routing-group-header'] ?? 'on', ['on', 'off'] as const) === 'on';
    const clientTagMatches = parseChoice('--client-tag-matches', values['client-tag-matches'] ?? 'regex', ['regex', 'none'] as const);
    settings = { gateway, gatewayNamespace, router, sharedGroupPath, followUps, acceptRulesFrom, routingGroupHeader, clientTagMatches };
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }

  let files: string[];
  const stdin = values.filename.includes('-');
  try {
    files = listInputFiles(values.filename.filter((f) => f !== '-'));
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  const stdinText = stdin ? await readStdin() : '';
  if (stdin) files.push('-');
  const input = loadInput(files, stdin ? (f) => (f === '-' ? stdinText : defaultRead(f)) : undefined);
  const out = render(input, settings, values['check-services'] ? { checkServices: true } : {});
  process.stdout.write(out.yaml);
  for (const line of out.statusLines) process.stderr.write(`${line}\n`);
  for (const s of input.skipped) process.stderr.write(`note: skipped ${s}\n`);
  for (const p of out.problems) process.stderr.write(`${formatProblem(p)}\n`);
  return out.problems.length > 0 ? 1 : 0;
}

function defaultRead(f: string): string {
  return readFileSync(f, 'utf8');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
