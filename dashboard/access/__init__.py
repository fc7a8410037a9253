"""Who may see what, on every route: the policy of `[access]`, logins (a users file, OpenID
Connect), the session cookie, HTTP digest for the FDSN `queryauth` routes, the audit log.

Rooms: `policy` (the rules, pure), `view` (the sources as one user may see them: where access
is enforced), `users` (the users file), `sessions` (the signed cookie), `login` (the login
routes), `oidc` (the provider client), `digest` (HTTP digest), `audit` (the JSON-lines log),
`hooks` (the few calls the server, the page chrome and the services make).
"""

from dashboard.access.policy import ANONYMOUS, Policy, Rule, User

__all__ = ["ANONYMOUS", "Policy", "Rule", "User"]
