import { BACKEND_HEADER_FEATURE, classFeatures, featureNames } from './gateway-features.ts';

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

  test('a class that publishes no features: the known implementations by controllerName; what a class publishes always wins', () => {
    const envoy = { spec: { controllerName: 'gateway.envoyproxy.io/gatewayclass-controller' } };
    expect(classFeatures(envoy).features).toEqual(new Set([BACKEND_HEADER_FEATURE]));
    expect(classFeatures(envoy).from).toMatch(/Envoy Gateway v1\.9 conformance report/);
    expect(classFeatures({ ...envoy, status: { supportedFeatures: [{ name: 'HTTPRoute' }] } }).features).toEqual(new Set(['HTTPRoute']));
    expect(classFeatures({ spec: { controllerName: 'example.com/unknown' } }).features).toEqual(new Set());
    expect(classFeatures({ spec: { controllerName: 42 } }).features).toEqual(new Set());
  });
});
