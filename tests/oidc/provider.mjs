// A real OpenID provider for the single sign-on browser tests: the certified
// `oidc-provider` package (package.json pins it), on 127.0.0.1 and a free port.
//
//   node tests/oidc/provider.mjs        (TEST_CLIENT_SECRET in the environment;
//                                        PORT to listen on a given port, else any)
//
// Prints one line, `READY <issuer URL>`, once it listens. One client, `hsclink`
// (confidential, authorisation code + PKCE S256 required); its redirect URIs are on
// loopback, where any port is allowed (RFC 8252), so the tests' live server can use
// whatever port it gets. The same goes for its post-logout redirect URI (RP-Initiated
// Logout, enabled by default with a confirmation page), which oidc-provider itself
// matches exactly. The development login page accepts any login; the login names the
// account below (unknown logins get the default claims).
//
// Each start signs with a new key under a new `kid`: a restart on the same PORT is a
// key rotation, as a relying party sees one.
//
// For negative tests a few accounts get an ID token the provider re-signs, with its
// own signing key, after changing one claim: `wrong-audience` (aud: another client),
// `expired` (exp an hour ago), `other-issuer` (iss: another issuer).
import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { CompactSign, decodeJwt, exportJWK, generateKeyPair, importJWK } from 'jose';
import Provider, { interactionPolicy } from 'oidc-provider';

const CLIENT_SECRET = process.env.TEST_CLIENT_SECRET;
if (!CLIENT_SECRET) {
  console.error('TEST_CLIENT_SECRET is not set');
  process.exit(2);
}

const DEFAULT_CLAIMS = {
  roles: ['hsclink-analysts'],
  org: 'E09000007',
};
const ACCOUNTS = {
  'jane.doe': { preferred_username: 'jane.doe@camden.gov.uk', name: 'Jane Doe' },
  'sam.lee': {
    preferred_username: 'sam.lee@camden.gov.uk',
    roles: ['hsclink-ig', 'all-staff'],
  },
  'no-role': { roles: ['all-staff'] },
  'two-roles': { roles: ['hsclink-analysts', 'hsclink-ig'] },
};
const TAMPER = {
  'wrong-audience': (claims) => ({ ...claims, aud: 'another-client' }),
  expired: (claims) => ({ ...claims, iat: claims.iat - 7200, exp: claims.iat - 3600 }),
  'other-issuer': (claims) => ({ ...claims, iss: 'http://127.0.0.1:9/another-issuer' }),
};

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingJwk = {
  ...(await exportJWK(privateKey)),
  kid: `test-signing-key-${randomUUID()}`,
  alg: 'RS256',
  use: 'sig',
};
const signingKey = await importJWK(signingJwk, 'RS256');

// Native (loopback) clients re-consent on every sign-in by default: not here.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'hsclink',
      client_secret: CLIENT_SECRET,
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/login/sso/test-nhs/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/login/sso/test-nhs/signed-out'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingJwk] },
  interactions: { policy },
  cookies: { keys: ['test-provider-cookie-key'] },
  pkce: { required: () => true },
  // Scope claims go in the ID token too (hsclink reads roles from it, not userinfo).
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    hsclink: ['roles', 'org'],
  },
  scopes: ['openid', 'profile', 'hsclink'],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, ...DEFAULT_CLAIMS, ...(ACCOUNTS[id] ?? {}) };
      },
    };
  },
  // No consent page: the tests are about hsclink, not the provider's consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile hsclink');
    await grant.save();
    return grant;
  },
});

// Post-logout redirect URIs on loopback: any port, as for the redirect URIs above.
const LOOPBACK = '127.0.0.1';
const exactMatch = provider.Client.prototype.postLogoutRedirectUriAllowed;
provider.Client.prototype.postLogoutRedirectUriAllowed = function anyLoopbackPort(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'http:' && url.hostname === LOOPBACK) url.port = '';
  return exactMatch.call(this, url.href);
};

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const claims = decodeJwt(ctx.body.id_token);
  const tamper = TAMPER[claims.sub];
  if (!tamper) return;
  const payload = new TextEncoder().encode(JSON.stringify(tamper(claims)));
  ctx.body.id_token = await new CompactSign(payload)
    .setProtectedHeader({ alg: 'RS256', kid: signingJwk.kid, typ: 'JWT' })
    .sign(signingKey);
});

server.on('request', provider.callback());
process.stdout.write(`READY ${issuer}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
