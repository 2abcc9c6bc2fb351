/**
 * What a request must look like before the router sends any of it to a coordinator: one Host,
 * and a path without dot segments in any spelling a server behind us might decode.
 *
 * @example
 * const problem = requestProblem(req.raw.rawHeaders, pathWithoutQuery);
 * if (problem) throw errors.malformed(problem);
 */

/** Dot segments, also percent-encoded (`%2e`), with a `;` parameter (`..;`, Tomcat/Jetty), or behind encoded slashes or backslashes. */
export function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'the path must start with /';
  if (/%2f|%5c|\\/i.test(path)) return 'path has encoded slashes or backslashes';
  const decoded = path.replace(/%2e/gi, '.');
  if (/(^|\/)\.\.?(;[^/]*)?(\/|$)/.test(decoded)) return 'path has dot segments';
  return undefined;
}

/**
 * Exactly one Host header (HTTP/1.1 requires it; HTTP/1.0 clients send it too, or Trino would
 * build URLs with its own address), and not one naming the router itself: a Gateway that gets a
 * request without Host (Traefik, for HTTP/1.0) fills in the address it dialled, the router's pod
 * or Service IP, which Trino would then write into nextUri for the client.
 */
export function hostProblem(rawHeaders: string[], selfHosts: ReadonlySet<string> = NO_HOSTS): string | undefined {
  let hosts = 0;
  let host = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      hosts++;
      host = rawHeaders[i + 1]!;
    }
  }
  if (hosts === 0) return 'no Host header; send the hostname you connected to';
  if (hosts > 1) return 'more than one Host header';
  if (selfHosts.size > 0 && selfHosts.has(hostName(host))) return 'the request reached the router without a Host of its own (a proxy filled in an internal address); connect with HTTP/1.1 and the Gateway\'s hostname';
  return undefined;
}

const NO_HOSTS: ReadonlySet<string> = new Set();

/** The name or IP of a Host header value, without port or IPv6 brackets, lowercased. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

export function requestProblem(rawHeaders: string[], path: string, selfHosts?: ReadonlySet<string>): string | undefined {
  return hostProblem(rawHeaders, selfHosts) ?? pathProblem(path);
}
