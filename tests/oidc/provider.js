// A real OpenID Connect provider on loopback for Belvedere's login tests (node provider.js).
// The `oidc-provider` package with its development login screens: any account name logs in,
// and the accounts named in OIDC_ACCOUNTS get those groups in the `groups` claim.
// Environment: OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI,
// OIDC_ACCOUNTS (JSON: {"alice": ["seismo"], ...}). Prints "ready ISSUER" once it listens.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID,
    client_secret: process.env.OIDC_CLIENT_SECRET,
    redirect_uris: [process.env.OIDC_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'groups'],
  findAccount: async (ctx, id) => ({
    accountId: id,
    async claims() {
      return { sub: id, preferred_username: id, name: id, groups: accounts[id] || [] };
    },
  }),
  cookies: { keys: ['belvedere-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
