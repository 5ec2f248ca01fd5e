// Development OpenID provider for the demo and the end-to-end tests.
//
// Built on oidc-provider (v9, OpenID Certified). Everything is configured from environment
// variables (or a JSON file named by OIDC_CONFIG_FILE with the same keys; the environment
// wins); signing keys, cookie keys and any client secret not given are generated at start,
// so nothing secret is ever committed. It listens on a loopback address only.
//
// Never use this as a production identity provider: the login form accepts any password.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

import { makeAccounts } from './accounts.mjs';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

function loadSettings(env) {
  let file = {};
  if (env.OIDC_CONFIG_FILE) {
    file = JSON.parse(readFileSync(env.OIDC_CONFIG_FILE, 'utf8'));
  }
  const get = (name, fallback) => {
    const value = env[name] ?? file[name];
    return value === undefined || value === '' ? fallback : String(value);
  };
  const list = (value) => value.split(',').map((s) => s.trim()).filter(Boolean);
  const seconds = (name, fallback) => {
    const value = Number(get(name, fallback));
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`${name}: must be a positive integer (seconds)`);
    }
    return value;
  };

  const host = get('OIDC_HOST', '127.0.0.1');
  const port = Number(get('OIDC_PORT', '9100'));
  const bffPublicUrl = get('OIDC_BFF_PUBLIC_URL', 'http://127.0.0.1:8000').replace(/\/+$/, '');
  const settings = {
    host,
    port,
    issuer: get('OIDC_ISSUER', `http://${host === '::1' ? '[::1]' : host}:${port}`),
    bff: {
      clientId: get('OIDC_BFF_CLIENT_ID', 'bff'),
      clientSecret: get('OIDC_BFF_CLIENT_SECRET', undefined),
      redirectUris: list(get('OIDC_BFF_REDIRECT_URIS', `${bffPublicUrl}/auth/callback`)),
      postLogoutRedirectUris: list(get(
        'OIDC_BFF_POST_LOGOUT_REDIRECT_URIS',
        `${bffPublicUrl}/,${bffPublicUrl}`,
      )),
      backchannelLogoutUri: get(
        'OIDC_BFF_BACKCHANNEL_LOGOUT_URI',
        `${bffPublicUrl}/auth/backchannel-logout`,
      ),
    },
    service: {
      clientId: get('OIDC_SERVICE_CLIENT_ID', 'inventory-service'),
      clientSecret: get('OIDC_SERVICE_CLIENT_SECRET', undefined),
    },
    apiAudience: get('OIDC_API_AUDIENCE', 'urn:inventory-api'),
    apiScopes: get('OIDC_API_SCOPES', 'inventory:read inventory:write'),
    accessTokenTtl: seconds('OIDC_ACCESS_TOKEN_TTL_S', '300'), // 5 minutes
    refreshTokenTtl: seconds('OIDC_REFRESH_TOKEN_TTL_S', String(14 * 24 * 3600)), // 14 days
    idTokenTtl: seconds('OIDC_ID_TOKEN_TTL_S', '3600'), // 1 hour
    sessionTtl: seconds('OIDC_SESSION_TTL_S', String(14 * 24 * 3600)), // 14 days
    testMode: ['1', 'true', 'yes'].includes(get('OIDC_TEST_MODE', '').toLowerCase()),
  };

  const problems = [];
  if (!LOOPBACK_HOSTS.has(host)) {
    problems.push(`OIDC_HOST: ${host} is not a loopback address; this provider is for development only`);
  }
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    problems.push('OIDC_PORT: must be a TCP port number');
  }
  try {
    const url = new URL(settings.issuer);
    if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname.replace(/^\[|\]$/g, ''))) {
      problems.push('OIDC_ISSUER: http is allowed on loopback hosts only');
    }
  } catch {
    problems.push('OIDC_ISSUER: not a URL');
  }
  return { settings, problems };
}

function generateSigningKey() {
  // RS256 (RFC 7518 §3.3): 2048-bit RSA, regenerated at every start.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function makeStats() {
  return {
    started_at: new Date().toISOString(),
    grant_success: {},
    grant_error: {},
    refresh_token_rotations: 0,
    refresh_token_reuse: 0,
    backchannel_success: 0,
    backchannel_error: 0,
    end_session_success: 0,
    grants_revoked: 0,
    server_errors: 0,
  };
}

function bump(counters, key) {
  counters[key] = (counters[key] ?? 0) + 1;
}

function log(event, fields) {
  process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), event, ...fields })}\n`);
}

export function buildProvider(settings) {
  const accounts = makeAccounts();
  const stats = makeStats();
  const bffSecret = settings.bff.clientSecret ?? randomBytes(32).toString('base64url');
  const serviceSecret = settings.service.clientSecret ?? randomBytes(32).toString('base64url');

  const resourceServer = {
    audience: settings.apiAudience,
    scope: settings.apiScopes,
    accessTokenTTL: settings.accessTokenTtl,
    // RFC 9068 JWT access tokens: header typ "at+jwt", signed RS256.
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };

  const configuration = {
    clients: [
      {
        client_id: settings.bff.clientId,
        client_secret: bffSecret,
        client_name: 'BFF gateway (demo)',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: settings.bff.redirectUris,
        post_logout_redirect_uris: settings.bff.postLogoutRedirectUris,
        backchannel_logout_uri: settings.bff.backchannelLogoutUri,
        backchannel_logout_session_required: true,
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: settings.service.clientId,
        client_secret: serviceSecret,
        client_name: 'Inventory service (client credentials)',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'inventory:read',
      },
    ],
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups',
      ...settings.apiScopes.split(' ')],
    responseTypes: ['code'],
    jwks: { keys: [generateSigningKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    findAccount: (ctx, sub) => accounts.find(sub),
    claims: {
      // `groups` rides on `openid` so every ID token carries it, whatever else is asked.
      openid: ['sub', 'groups'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      sid: null,
      acr: null,
      auth_time: null,
    },
    // Put the scope's user claims in the ID token too: the BFF reads the user from the ID
    // token because userinfo refuses audience-bound (resource) access tokens.
    conformIdTokenClaims: false,
    pkce: { required: () => true }, // S256 only in v9
    rotateRefreshToken: true, // the used token is consumed; replaying it revokes the grant
    // First-party BFF: refresh tokens without the offline_access + prompt=consent dance.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    loadExistingGrant: async (ctx) => loadFirstPartyGrant(ctx, settings),
    extraTokenClaims: async (ctx, token) => {
      if (!token.accountId) return undefined; // client credentials: no user
      const account = accounts.get(token.accountId);
      if (!account) return undefined;
      return { groups: account.groups, name: account.name, email: account.email };
    },
    ttl: {
      AccessToken: () => settings.accessTokenTtl,
      ClientCredentials: () => settings.accessTokenTtl,
      IdToken: () => settings.idTokenTtl,
      RefreshToken: () => settings.refreshTokenTtl,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: settings.sessionTtl,
      Grant: settings.refreshTokenTtl,
    },
    features: {
      devInteractions: { enabled: true },
      dPoP: { enabled: false }, // the resource API takes plain bearer tokens
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Without a resource parameter the API is still the audience, so a client that
        // forgets RFC 8707 gets a token the API accepts instead of an opaque one.
        defaultResource: async (ctx, client, oneOf) => oneOf ?? settings.apiAudience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator === settings.apiAudience) return resourceServer;
          throw new errors.InvalidTarget();
        },
      },
    },
    // v9 refuses outgoing requests to special-use addresses (SSRF protection). Back-channel
    // logout goes to the BFF on loopback, so drop the guarding dispatcher: development only.
    fetch: (url, options) => {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!doctype html><title>Error</title><h1>${escape(out.error)}</h1>`
        + `<p>${escape(out.error_description ?? '')}</p>`;
    },
  };

  const provider = new Provider(settings.issuer, configuration);

  provider.on('grant.success', (ctx) => bump(stats.grant_success, ctx.oidc.params.grant_type));
  provider.on('grant.error', (ctx, err) => {
    const grantType = ctx.oidc?.params?.grant_type ?? 'unknown';
    bump(stats.grant_error, grantType);
    if ((err.error_detail ?? err.message) === 'refresh token already used') stats.refresh_token_reuse += 1;
    // The token endpoint only says "grant request is invalid"; the reason is here.
    log('grant.error', {
      grant_type: grantType,
      client_id: ctx.oidc?.client?.clientId,
      error: err.error ?? err.name,
      reason: err.error_detail ?? err.error_description ?? err.message,
    });
  });
  provider.on('server_error', (ctx, err) => {
    stats.server_errors += 1;
    log('server_error', { path: ctx.path, error: err.message, stack: err.stack });
  });
  provider.on('refresh_token.consumed', () => {
    stats.refresh_token_rotations += 1;
  });
  provider.on('backchannel.success', (ctx, client, accountId, sid) => {
    stats.backchannel_success += 1;
    log('backchannel.success', { client_id: client.clientId, sub: accountId, sid });
  });
  provider.on('backchannel.error', (ctx, err, client, accountId, sid) => {
    stats.backchannel_error += 1;
    log('backchannel.error', { client_id: client.clientId, sub: accountId, sid, error: err.message });
  });
  provider.on('end_session.success', () => {
    stats.end_session_success += 1;
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    stats.grants_revoked += 1;
    log('grant.revoked', { grant_id: grantId });
  });
  for (const name of ['authorization.error', 'end_session.error', 'revocation.error',
    'introspection.error', 'userinfo.error', 'check_session.error']) {
    provider.on(name, (ctx, err) => log(name, { error: err.error ?? err.message,
      reason: err.error_detail ?? err.error_description }));
  }

  if (settings.testMode) {
    // Counters for the end-to-end tests (e.g. "no refresh-token reuse"); off by default.
    provider.use(async (ctx, next) => {
      if (ctx.path === '/__test/stats' && ctx.method === 'GET') {
        ctx.type = 'json';
        ctx.body = JSON.stringify(stats);
        return;
      }
      await next();
    });
  }

  return { provider, secrets: { bff: bffSecret, service: serviceSecret }, stats };
}

async function loadFirstPartyGrant(ctx, settings) {
  const { client, session, result } = ctx.oidc;
  const grantId = result?.consent?.grantId || session.grantIdFor(client.clientId);
  if (client.clientId !== settings.bff.clientId) {
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  }
  // The BFF is first-party: grant what it asks for without a consent screen (an explicit
  // prompt=consent still shows one).
  let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
  if (!grant) {
    grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
  }
  grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
  const resources = ctx.oidc.params.resource ?? settings.apiAudience;
  for (const resource of [resources].flat()) {
    const wanted = [...ctx.oidc.requestParamScopes].filter((s) => settings.apiScopes.split(' ').includes(s));
    grant.addResourceScope(resource, wanted.join(' '));
  }
  await grant.save();
  return grant;
}

function main() {
  const { settings, problems } = loadSettings(process.env);
  if (problems.length) {
    for (const problem of problems) process.stderr.write(`${problem}\n`);
    process.exit(2);
  }
  const { provider, secrets } = buildProvider(settings);
  const server = provider.listen(settings.port, settings.host, () => {
    log('listening', {
      issuer: settings.issuer,
      bff_client_id: settings.bff.clientId,
      service_client_id: settings.service.clientId,
      api_audience: settings.apiAudience,
      access_token_ttl_s: settings.accessTokenTtl,
      test_mode: settings.testMode,
    });
    if (!settings.bff.clientSecret || !settings.service.clientSecret) {
      // Generated secrets are printed so a developer can use them; the demo passes its own.
      log('generated_client_secrets', secrets);
    }
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 2000).unref(); // 2 s grace, in ms
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
