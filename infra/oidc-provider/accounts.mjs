// Demo accounts. The development login form accepts any password, so an account is just a
// login name: alice (member), bob (member) and admin (group "admin") have fixed profiles;
// any other login name becomes a member with a derived profile, which lets tests create
// fresh users at will.

const KNOWN = {
  alice: { name: 'Alice Liddell', email: 'alice@example.test', groups: [] },
  bob: { name: 'Bob Builder', email: 'bob@example.test', groups: [] },
  admin: { name: 'Ada Admin', email: 'admin@example.test', groups: ['admin'] },
};

const LOGIN_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export function makeAccounts() {
  const get = (sub) => {
    if (typeof sub !== 'string' || !LOGIN_PATTERN.test(sub)) return undefined;
    const known = KNOWN[sub];
    return {
      sub,
      name: known?.name ?? sub,
      email: known?.email ?? `${sub.toLowerCase()}@example.test`,
      groups: known?.groups ?? [],
    };
  };

  const find = async (sub) => {
    const account = get(sub);
    if (!account) return undefined;
    return {
      accountId: account.sub,
      // oidc-provider filters these by the granted scopes and the `claims` configuration.
      async claims() {
        return {
          sub: account.sub,
          name: account.name,
          preferred_username: account.sub,
          email: account.email,
          email_verified: true,
          groups: account.groups,
        };
      },
    };
  };

  return { get, find };
}
