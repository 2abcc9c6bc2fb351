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

/** Exactly one Host header (HTTP/1.1 requires it; HTTP/1.0 clients send it too, or Trino would build URLs with its own address). */
export function hostProblem(rawHeaders: string[]): string | undefined {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  if (hosts === 0) return 'no Host header; send the hostname you connected to';
  if (hosts > 1) return 'more than one Host header';
  return undefined;
}

export function requestProblem(rawHeaders: string[], path: string): string | undefined {
  return hostProblem(rawHeaders) ?? pathProblem(path);
}
