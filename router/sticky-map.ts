/**
 * Which coordinator owns which query-id suffix (the per-process random part of a query id),
 * learned from traffic. Bounded: the least recently used suffixes are forgotten first. A
 * coordinator restart brings a new suffix; the old one then points at a coordinator that answers
 * 404 for its queries, which is the truth.
 */
export class StickyMap {
  private readonly max: number;
  private readonly map = new Map<string, string>();
  constructor(max = 100_000) {
    this.max = max;
  }

  get(suffix: string): string | undefined {
    const v = this.map.get(suffix);
    if (v !== undefined && this.map.size > this.max / 2) {
      // refresh recency only when eviction could matter
      this.map.delete(suffix);
      this.map.set(suffix, v);
    }
    return v;
  }

  set(suffix: string, backendId: string): void {
    if (this.map.get(suffix) === backendId) return;
    this.map.delete(suffix);
    this.map.set(suffix, backendId);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  get size(): number {
    return this.map.size;
  }
}
