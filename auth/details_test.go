package auth

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// detailCases are ParseDetails' table, also the fuzz seeds.
var detailCases = []struct {
	name, json string
	want       int    // Mercure details kept
	wantErr    string // "" accepts
}{
	{"absent", ``, 0, ""},
	{"null", `null`, 0, ""},
	{"empty", `[]`, 0, ""},
	{"one", `[{"type":"` + DetailType + `","actions":["publish"],"topics":[{"match":"*"}]}]`, 1, ""},
	{"other types ignored", `[{"type":"urn:other","actions":7},{"type":"` + DetailType + `","actions":[],"topics":[]}]`, 1, ""},
	{"null match_type is exact", `[{"type":"` + DetailType + `","actions":["subscribe"],"topics":[{"match":"a","match_type":null}]}]`, 1, ""},
	{"not an array", `{"type":"` + DetailType + `"}`, 0, "must be an array"},
	{"entry not an object", `["x"]`, 0, "must be an object"},
	{"no type", `[{"actions":["publish"]}]`, 0, `"type" must be a non-empty string`},
	{"type not a string", `[{"type":1}]`, 0, `"type" must be`},
	{"no actions", `[{"type":"` + DetailType + `","topics":[]}]`, 0, `"actions" must be an array`},
	{"actions with a number", `[{"type":"` + DetailType + `","actions":[1],"topics":[]}]`, 0, `"actions" must be an array`},
	{"no topics", `[{"type":"` + DetailType + `","actions":["publish"]}]`, 0, `"topics" must be an array`},
	{"topic not an object", `[{"type":"` + DetailType + `","actions":["publish"],"topics":["a"]}]`, 0, "topics[0] must be an object"},
	{"empty match", `[{"type":"` + DetailType + `","actions":["publish"],"topics":[{"match":""}]}]`, 0, `"match" must be a non-empty string`},
	{"match not a string", `[{"type":"` + DetailType + `","actions":["publish"],"topics":[{"match":["a"]}]}]`, 0, `"match" must be a non-empty string`},
	{"unknown match_type", `[{"type":"` + DetailType + `","actions":["publish"],"topics":[{"match":"a","match_type":"uritemplate"}]}]`, 0, "unknown match_type"},
	{"match too long", `[{"type":"` + DetailType + `","actions":["publish"],"topics":[{"match":"` + strings.Repeat("a", MaxMatchBytes+1) + `"}]}]`, 0, "more than the 4096 accepted"},
	{"too many details", `[` + strings.Repeat(`{"type":"urn:x"},`, MaxDetails) + `{"type":"urn:x"}]`, 0, "65 entries, more than the 64"},
	{"too many topics", `[{"type":"` + DetailType + `","actions":["publish"],"topics":[` + strings.Repeat(`{"match":"a"},`, MaxDetailTopics) + `{"match":"a"}]}]`, 0, "65 entries, more than the 64"},
}

func TestParseDetailsVoidsAnyBadMercureEntry(t *testing.T) {
	for _, tt := range detailCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDetails(json.RawMessage(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDetails = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ParseDetails = %+v, %v; want %d details", got, err, tt.want)
			}
		})
	}
}

// FuzzDetails feeds arbitrary JSON to the authorization_details parser: it
// never panics, and what it accepts respects every limit and rule.
func FuzzDetails(f *testing.F) {
	for _, tt := range detailCases {
		f.Add(tt.json)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDetails(json.RawMessage(s))
		if err != nil {
			if got != nil {
				t.Fatalf("details %v with error %v", got, err)
			}
			return
		}
		if len(got) > MaxDetails {
			t.Fatalf("%d details accepted", len(got))
		}
		for _, d := range got {
			if len(d.Topics) > MaxDetailTopics {
				t.Fatalf("%d topics accepted", len(d.Topics))
			}
			for _, a := range d.Actions {
				if a != ActionPublish && a != ActionSubscribe {
					t.Fatalf("unknown action %q kept", a)
				}
			}
			for _, m := range d.Topics {
				if m.Match == "" || len(m.Match) > MaxMatchBytes || (m.Type != MatchExact && m.Type != MatchURLPattern) {
					t.Fatalf("matcher %s accepted", fmt.Sprint(m))
				}
			}
		}
	})
}
