// Package authz is Herald's one authorization policy: from a verified
// token's claims, of either format (a Mercure 0.x "mercure" claim or a
// Mercure 1.0 access token's authorization_details), it tells which topics
// the bearer may publish to, which private updates it may receive, and the
// payload attached to its subscriptions. The Mercure protocol handler and
// the jobs API both decide through it, so the same rules hold everywhere.
package authz
