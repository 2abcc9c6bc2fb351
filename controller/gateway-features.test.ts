import { BACKEND_HEADER_FEATURE, featureNames } from './gateway-features.ts';

describe('GatewayClass supported features', () => {
  test('read from status.supportedFeatures, objects (v1.2+) or plain strings', () => {
    expect(featureNames({ status: { supportedFeatures: [{ name: BACKEND_HEADER_FEATURE }, { name: 'HTTPRoute' }] } })).toEqual(new Set([BACKEND_HEADER_FEATURE, 'HTTPRoute']));
    expect(featureNames({ status: { supportedFeatures: ['HTTPRoute'] } })).toEqual(new Set(['HTTPRoute']));
  });

  test('a class that publishes nothing, or garbage, supports nothing', () => {
    for (const gc of [undefined, {}, { status: {} }, { status: { supportedFeatures: 'HTTPRoute' } }, { status: { supportedFeatures: [null, 3, { name: 4 }] } }]) {
      expect(featureNames(gc)).toEqual(new Set());
    }
  });
});
