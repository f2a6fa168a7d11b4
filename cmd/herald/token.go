package main

import (
	"context"
	"encoding/json"
	"errors"
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

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", stderr)
	key := fs.String("key", "", "HS256 secret to sign with (default: env HERALD_PUBLISHER_KEY)")
	keyFile := fs.String("key-file", "", "PEM private key to sign with: RSA (RS256) or EC P-256 (ES256)")
	algName := fs.String("alg", "", "algorithm: HS256 with --key, RS256 or ES256 with --key-file (default: the key's)")
	var publish, subscribe listFlag
	fs.Var(&publish, "publish", "topic selector the token may publish to (repeatable; '*' for all)")
	fs.Var(&subscribe, "subscribe", "topic selector whose private updates the token may receive (repeatable)")
	ttl := fs.Duration("ttl", defaultTokenTTL, "lifetime of the token; 0 means it never expires")
	payload := fs.String("payload", "", "JSON value attached to the subscriber's subscriptions (mercure.payload)")
	subject := fs.String("subject", "", "subject (sub claim) identifying the bearer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (selectors go after --publish or --subscribe)", fs.Arg(0))
	}
	if len(publish) == 0 && len(subscribe) == 0 {
		return errors.New("the token would allow nothing: give at least one --publish or --subscribe selector (for example --publish '*')")
	}
	if *ttl < 0 {
		return fmt.Errorf("--ttl %v is negative: give a positive duration, or 0 for a token that never expires", *ttl)
	}
	k, err := signingKey(*key, *keyFile, *algName)
	if err != nil {
		return err
	}
	claims := auth.Claims{Publish: publish, Subscribe: subscribe, Subject: *subject}
	if *payload != "" {
		if !json.Valid([]byte(*payload)) {
			return fmt.Errorf("--payload is not valid JSON: %q", *payload)
		}
		claims.Payload = json.RawMessage(*payload)
	}
	if *ttl > 0 {
		claims.Expiry = time.Now().Add(*ttl)
	}
	token, err := k.Sign(claims)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
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
