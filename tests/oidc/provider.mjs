// A real OpenID provider for the single sign-on tests: npm's
// `oidc-provider` (OpenID Certified), with its built-in login and consent
// pages (`devInteractions`: any password is accepted for a known login),
// three clients for the daemon and a few people with `groups` and
// `email_verified` claims. Started by tests/api/support/oidc.rs:
//
//   REDIRECT_URI=http://127.0.0.1:PORT/console/sso/callback node provider.mjs
//
// listens on a free loopback port and prints one JSON line
// `{"issuer": "http://127.0.0.1:N"}` once it serves. It exits when its
// standard input closes (the test process ended).
import http from 'node:http';
import Provider from 'oidc-provider';

const redirect = process.env.REDIRECT_URI;
if (!redirect) {
  console.error('provider.mjs: set REDIRECT_URI to the daemon callback URL');
  process.exit(2);
}

// People the provider knows, by login (their `sub`).
const people = {
  'alice@corp.example': { name: 'Alice Agent', email: 'alice@corp.example', email_verified: true, groups: ['itsm-agents', 'staff'] },
  'bob@corp.example': { name: 'Bob Admin', email: 'bob@corp.example', email_verified: true, groups: ['itsm-admins'] },
  'rita@corp.example': { name: 'Rita Requester', email: 'rita@corp.example', email_verified: true, groups: [] },
  'uma@corp.example': { name: 'Uma Unverified', email: 'uma@corp.example', email_verified: false, groups: ['itsm-admins'] },
  // As Entra ID signs people in: no email_verified, the domain owner's
  // verification in the optional claim xms_edov.
  'ezra@corp.example': { name: 'Ezra Entra', email: 'ezra@corp.example', xms_edov: true, groups: ['itsm-agents'] },
  'dora@corp.example': { name: 'Dora Disabled', email: 'dora@corp.example', email_verified: true, groups: ['itsm-agents'] },
  'eve@elsewhere.example': { name: 'Eve Elsewhere', email: 'eve@elsewhere.example', email_verified: true, groups: ['itsm-admins'] },
};

const client = (id, secret) => ({
  client_id: id,
  client_secret: secret,
  redirect_uris: [redirect],
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const configuration = {
  clients: [
    client('switchboard', 'switchboard-secret'),
    // Another relying party of the same provider: its ID tokens are for
    // another audience.
    client('other-app', 'other-secret'),
    // ID tokens of this client expire after one second.
    client('short-lived', 'short-secret'),
  ],
  async findAccount(ctx, id) {
    const person = people[id];
    if (!person) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...person }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified', 'xms_edov'],
    profile: ['name', 'groups'],
  },
  // The scopes' claims go into the ID token itself, as Okta, Entra ID and
  // Keycloak do for `groups` when configured to.
  conformIdTokenClaims: false,
  cookies: { keys: ['switchboard-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  ttl: {
    IdToken: (ctx, token, c) => (c && c.clientId === 'short-lived' ? 1 : 3600),
  },
};

// Standard output carries the one line above only (the test reads it and
// may close the pipe): the provider's notices go to standard error.
console.log = console.info = (...args) => console.error(...args);
process.stdout.on('error', () => {});

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration);
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
