package doctor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// tokenExpiry reads the exp claim of a JWT without verifying it (the hub
// does that): the zero time if it has none.
func tokenExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("the token is not a JWT (three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, fmt.Errorf("the token's payload is not base64url: %w", err)
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, fmt.Errorf("the token's payload is not a JSON object with a numeric exp: %w", err)
	}
	if claims.Exp == nil {
		return time.Time{}, nil
	}
	if *claims.Exp < 0 || *claims.Exp > math.MaxInt32*100 {
		return time.Time{}, fmt.Errorf("the token's exp %v is out of range", *claims.Exp)
	}
	sec, frac := math.Modf(*claims.Exp)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
