// Package auth verifies and mints the JSON Web Tokens (JWT) that Herald's
// publishers and subscribers present, as the Mercure protocol defines them.
//
// A Key binds exactly one algorithm (HS256 with a shared secret, RS256 or
// ES256 with a PEM key) to its key material; a token signed with any other
// algorithm, with "alg": "none", or with the right algorithm but another key
// is refused. A Verifier pairs a Key with the rules for finding a token in an
// HTTP request. A hub keeps two of them, one for publishers and one for
// subscribers, each with its own key.
//
// # Where a token is found
//
// The protocol defines three places, and Verifier.Verify looks in this
// order, using the first one present and ignoring the others:
//
//  1. the Authorization header, "Bearer <JWT>";
//  2. the authorization query parameter, only if Verifier.Query accepts it;
//  3. the mercureAuthorization cookie (the name is configurable).
//
// Presenting several is not an error: the header wins over the query
// parameter and the cookie, and the query parameter wins over the cookie.
// A token in the query string ends up in access logs and browser history,
// and only subscribing needs it (an EventSource cannot send headers): the
// hub's subscriber verifier sets Query, its publisher verifier and the jobs
// API do not, and refuse a query token with a reason saying to send it in
// the Authorization header instead.
//
// A cookie is sent by browsers on cross-site requests too, so a cookie alone
// could let another site publish in a user's name (CSRF). As the protocol's
// security considerations ask, a cookie is accepted on an unsafe request
// (POST and any method other than GET, HEAD, OPTIONS and TRACE) only if its
// Origin header, or failing that its Referer, names this hub's own host or
// one of Verifier.Origins; with neither header the request is refused.
// Subscriptions (GET) carry no such risk and accept the cookie from any
// origin.
//
// # Claims
//
// Herald reads the protocol's "mercure" claim: "publish" and "subscribe" are
// arrays of topic selectors, "payload" is any JSON value attached to a
// subscription. The standard "exp" and "nbf" claims are enforced; "sub" is
// reported. Claims.CheckPublish and Claims.CanReceivePrivate apply the
// protocol's rules with a selector matcher supplied by the caller, so this
// package needs no topic-matching code of its own.
//
// # Errors and HTTP statuses
//
// Every failure wraps one of three sentinel errors, which the HTTP layer maps
// to a status in one place:
//
//   - ErrNoToken: the request carries no token at all (401; a hub that allows
//     anonymous subscribers treats it as anonymous instead);
//   - ErrInvalidToken: a token is present but malformed, signed with another
//     algorithm or key, expired, not yet valid, or its claims have the wrong
//     shape (401);
//   - ErrForbidden: the token is valid but does not allow the action, or a
//     cookie was sent cross-origin on an unsafe request (403).
package auth
