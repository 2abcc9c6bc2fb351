/**
 * A Date that serializes as a Kubernetes MicroTime (six fractional digits), which Lease fields
 * require; the client's Date serialization gives three and the API server refuses it.
 */
export class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/Z$/, '000Z');
  }
}
