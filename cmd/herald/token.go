package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/heraldhub/herald/auth"
)

func init() {
	register("token", "mint a JWT for publishers and subscribers", runToken)
}

// defaultTokenTTL is how long a minted token lives unless --ttl says
// otherwise: a working day, short enough that a leaked token does not stay
// useful for long (the protocol recommends short-lived tokens).
const defaultTokenTTL = 24 * time.Hour

// defaultAccessTokenTTL is the lifetime of an access token (--format
// at+jwt) unless --ttl says otherwise: access tokens are meant to be short
// lived and must expire.
const defaultAccessTokenTTL = time.Hour

// tokenOptions are the flags of herald token that shape the claims.
type tokenOptions struct {
	format, issuer, matchType, payload, subject string
	audience, publish, subscribe                listFlag
	ttl                                         time.Duration
	ttlSet                                      bool
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", stderr)
	key := fs.String("key", "", "HS256 secret to sign with (default: env HERALD_PUBLISHER_KEY)")
	keyFile := fs.String("key-file", "", "PEM private key to sign with: RSA (RS256) or EC P-256 (ES256)")
	algName := fs.String("alg", "", "algorithm: HS256 with --key, RS256 or ES256 with --key-file (default: the key's)")
	kid := fs.String("kid", "", "key id (kid) to name in the token's header, for a hub that selects keys by id")
	var o tokenOptions
	fs.Var(&o.publish, "publish", "topic selector the token may publish to (repeatable; '*' for all)")
	fs.Var(&o.subscribe, "subscribe", "topic selector whose private updates the token may receive (repeatable)")
	fs.DurationVar(&o.ttl, "ttl", defaultTokenTTL, "lifetime of the token; 0 means it never expires (0.x only); default 1h with --format at+jwt")
	fs.StringVar(&o.payload, "payload", "", "JSON value attached to the subscriber's subscriptions (mercure.payload, or the subscribe detail's payload)")
	fs.StringVar(&o.subject, "subject", "", "subject (sub claim) identifying the bearer")
	fs.StringVar(&o.format, "format", "legacy", `token format: "legacy" (Mercure 0.x, the mercure claim) or "at+jwt" (Mercure 1.0 access token with authorization_details)`)
	fs.StringVar(&o.issuer, "issuer", "", "issuer (iss) of an at+jwt token: the hub's --issuer")
	fs.Var(&o.audience, "audience", "audience (aud) of an at+jwt token: the hub's resource identifier, e.g. https://example.com/.well-known/mercure (repeatable)")
	fs.StringVar(&o.matchType, "match-type", auth.MatchExact, `how an at+jwt token's selectors match topics: "exact" or "urlpattern"`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { o.ttlSet = o.ttlSet || f.Name == "ttl" })
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (selectors go after --publish or --subscribe)", fs.Arg(0))
	}
	claims, audience, err := o.claims(time.Now())
	if err != nil {
		return err
	}
	k, err := signingKey(*key, *keyFile, *algName)
	if err != nil {
		return err
	}
	token, err := k.WithID(*kid).Sign(claims, audience...)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// claims checks the options and returns the claims to sign and, for an
// access token, its audience.
func (o *tokenOptions) claims(now time.Time) (auth.Claims, []string, error) {
	if len(o.publish) == 0 && len(o.subscribe) == 0 {
		return auth.Claims{}, nil, errors.New("the token would allow nothing: give at least one --publish or --subscribe selector (for example --publish '*')")
	}
	if o.ttl < 0 {
		return auth.Claims{}, nil, fmt.Errorf("--ttl %v is negative: give a positive duration, or 0 for a token that never expires", o.ttl)
	}
	if o.payload != "" && !json.Valid([]byte(o.payload)) {
		return auth.Claims{}, nil, fmt.Errorf("--payload is not valid JSON: %q", o.payload)
	}
	switch o.format {
	case "legacy", "":
		if o.issuer != "" || len(o.audience) > 0 || o.matchType != auth.MatchExact {
			return auth.Claims{}, nil, errors.New("--issuer, --audience and --match-type are for --format at+jwt tokens")
		}
		c := auth.Claims{Publish: o.publish, Subscribe: o.subscribe, Subject: o.subject}
		if o.payload != "" {
			c.Payload = json.RawMessage(o.payload)
		}
		if o.ttl > 0 {
			c.Expiry = now.Add(o.ttl)
		}
		return c, nil, nil
	case "at+jwt":
	default:
		return auth.Claims{}, nil, fmt.Errorf(`unknown --format %q: use "legacy" (Mercure 0.x) or "at+jwt" (Mercure 1.0)`, o.format)
	}
	switch {
	case o.issuer == "":
		return auth.Claims{}, nil, errors.New("--format at+jwt needs --issuer: the issuer the hub trusts (its --issuer)")
	case len(o.audience) == 0:
		return auth.Claims{}, nil, errors.New("--format at+jwt needs --audience: the hub's resource identifier, e.g. https://example.com/.well-known/mercure")
	case o.matchType != auth.MatchExact && o.matchType != auth.MatchURLPattern:
		return auth.Claims{}, nil, fmt.Errorf(`unknown --match-type %q: use "exact" or "urlpattern"`, o.matchType)
	case o.ttlSet && o.ttl == 0:
		return auth.Claims{}, nil, errors.New("--ttl 0: an access token (--format at+jwt) must expire; give a positive duration")
	}
	ttl := o.ttl
	if !o.ttlSet {
		ttl = defaultAccessTokenTTL
	}
	c := auth.Claims{Format: auth.AccessToken, Issuer: o.issuer, Subject: o.subject, Expiry: now.Add(ttl)}
	for _, g := range []struct {
		action    string
		selectors []string
	}{{auth.ActionPublish, o.publish}, {auth.ActionSubscribe, o.subscribe}} {
		if len(g.selectors) == 0 {
			continue
		}
		d := auth.Detail{Actions: []string{g.action}}
		for _, sel := range g.selectors {
			d.Topics = append(d.Topics, auth.Matcher{Match: sel, Type: o.matchType})
		}
		if g.action == auth.ActionSubscribe && o.payload != "" {
			d.Payload = json.RawMessage(o.payload)
		}
		c.Details = append(c.Details, d)
	}
	return c, o.audience, nil
}

// signingKey returns the key --key, --key-file and --alg describe.
// HERALD_PUBLISHER_KEY stands in for --key when neither flag is given.
func signingKey(secret, file, algName string) (auth.Key, error) {
	if secret != "" && file != "" {
		return auth.Key{}, errors.New("give --key (an HS256 secret) or --key-file (a PEM private key), not both")
	}
	if secret == "" && file == "" {
		secret = os.Getenv("HERALD_PUBLISHER_KEY")
		if secret == "" {
			return auth.Key{}, errors.New(`no key: pass --key SECRET (or set HERALD_PUBLISHER_KEY) or --key-file PEM; "herald serve" logs the key it generated at first start`)
		}
	}
	var (
		k   auth.Key
		err error
	)
	if file != "" {
		k, err = auth.LoadPEMFile(file)
	} else {
		k, err = auth.SecretKey(secret)
	}
	if err != nil {
		return auth.Key{}, err
	}
	if !k.CanSign() {
		return auth.Key{}, fmt.Errorf("%s holds a public key: signing needs the private key (BEGIN PRIVATE KEY)", file)
	}
	if algName != "" {
		alg, err := auth.ParseAlgorithm(algName)
		if err != nil {
			return auth.Key{}, err
		}
		if alg != k.Algorithm() {
			if file == "" {
				return auth.Key{}, fmt.Errorf("--alg %s needs --key-file with a matching PEM private key; --key is an HS256 secret", alg)
			}
			return auth.Key{}, fmt.Errorf("--alg %s does not match %s, which holds an %s key", alg, file, k.Algorithm())
		}
	}
	return k, nil
}
