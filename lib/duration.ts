/** Parses durations like `500ms`, `30s`, `10m`, `1h30m` into milliseconds; throws on anything else. */
export function parseDurationMs(s: string): number {
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(/([0-9]+)(ms|s|m|h)/g)) {
    total += Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (consumed !== s.length || s.length === 0) throw new Error(`"${s}" is not a duration like 30s, 10m or 1h30m`);
  return total;
}
