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
// # Two dialects
//
// A token whose header has typ "at+jwt" or "application/at+jwt" (any case)
// is a Mercure 1.0 access token (RFC 9068). It must carry "iss", "aud" and
// "exp"; "iss" must be exactly the ID of one of Verifier.Issuers, and only
// that issuer's keys are tried: its static keys and its JWKS, the "kid"
// header selecting among them, the algorithm fitting the key (an HMAC
// algorithm never fits a public key). "aud" must include the resource
// identifier (Verifier.Resource, or one derived from the request: see
// Resource). Its grants are the RFC 9396 authorization_details of type
// DetailType (see ParseDetails), and its "mercure" claim is ignored. A
// refused access token is never tried as a 0.x token.
//
// Any other token is a Mercure 0.x token, verified with Verifier.Key alone
// under the rules below; one carrying authorization_details is refused.
//
// # Where a token is found
//
// The protocol defines three places, and Verifier.Verify looks in this
// order, using the first one present and ignoring the others:
//
//  1. the Authorization header, "Bearer <JWT>" (the scheme in any case);
//  2. the authorization query parameter, only if Verifier.Query accepts it,
//     and only for a 0.x token;
//  3. the access token cookie, __Secure-mercure_access_token (the name is
//     configurable), only for an access token;
//  4. the mercureAuthorization cookie (the name is configurable), only for
//     a 0.x token.
//
// An access token in the query string or the 0.x cookie, or a 0.x token in
// the access token cookie, is refused with ErrInvalidRequest.
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
// one of Verifier.Origins (never through "*"); with neither header the
// request is refused.
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
// Every failure wraps one of four sentinel errors, which the HTTP layer maps
// to a status in one place, with the RFC 6750 challenge Challenge gives:
//
//   - ErrNoToken: the request carries no token at all (401; a hub that allows
//     anonymous subscribers treats it as anonymous instead);
//   - ErrInvalidToken: a token is present but malformed, signed with another
//     algorithm or key, expired, not yet valid, or its claims have the wrong
//     shape (401);
//   - ErrForbidden: the token is valid but does not allow the action, or a
//     cookie was sent cross-origin on an unsafe request (403);
//   - ErrInvalidRequest: the token is presented wrongly: several
//     Authorization headers, another scheme, an empty bearer token, or a
//     token in a place its dialect does not allow (400).
package auth
