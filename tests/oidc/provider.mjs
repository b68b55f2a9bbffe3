// A certified OpenID provider issuing JWT access tokens with Carnet's claims contract, for the
// verifier test in crates/auth/tests/oidc_provider.rs. Usage: node provider.mjs PORT
// Prints "ready ISSUER" once listening. Keys are generated at start; nothing is persisted.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const jwk = (type, options, alg, kid) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg, use: 'sig', kid,
});

const provider = new Provider(issuer, {
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rsa-1'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'ec-1'),
    ],
  },
  scopes: ['openid', 'system/DocumentReference.cruds', 'system/Binary.cr'],
  clients: [
    {
      client_id: 'lab-software',
      client_secret: 'lab-software-test-secret-not-for-production',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'system/DocumentReference.cruds system/Binary.cr',
    },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:carnet:api',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'system/DocumentReference.cruds system/Binary.cr',
        audience: 'carnet',
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: process.env.CARNET_OIDC_ALG || 'ES256' } },
      }),
    },
  },
  ttl: { ClientCredentials: 300 },
  extraTokenClaims: () => ({ carnet_role: 'system', finess: '750000010', name: 'Laboratoire de test' }),
});

provider.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
