package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const commonQuery = `@timestamp >= "now-30d/d" and event.module:(threatintel or ti_*) and %s and not
labels.is_ioc_transform_source:"true"
`

func TestLoad(t *testing.T) {
	rules, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	q := func(exists string) string { return strings.Replace(commonQuery, "%s", exists, 1) }
	tests := []struct {
		file     string
		id, name string
		query    string
		mappings []Mapping
	}{
		{"threat_intel_indicator_match_address.toml", "0c41e478-5263-4c69-8f9e-7dfd2c22da64",
			"Threat Intel IP Address Indicator Match", q("threat.indicator.ip:*"),
			[]Mapping{{"source.ip", "threat.indicator.ip"}, {"destination.ip", "threat.indicator.ip"}}},
		{"threat_intel_indicator_match_email.toml", "fcf18de8-ad7d-4d01-b3f7-a11d5b3883af",
			"Threat Intel Email Indicator Match", q("threat.indicator.email.address:*"),
			[]Mapping{
				{"email.from.address", "threat.indicator.email.address"},
				{"email.to.address", "threat.indicator.email.address"},
				{"email.sender.address", "threat.indicator.email.address"},
				{"email.reply_to.address", "threat.indicator.email.address"},
			}},
		{"threat_intel_indicator_match_hash.toml", "aab184d3-72b3-4639-b242-6597c99d8bca",
			"Threat Intel Hash Indicator Match",
			`@timestamp >= "now-30d/d" and event.module:(threatintel or ti_*) and (threat.indicator.file.hash.*:* or
threat.indicator.file.pe.imphash:*) and not labels.is_ioc_transform_source:"true"
`,
			[]Mapping{
				{"file.hash.md5", "threat.indicator.file.hash.md5"},
				{"file.hash.sha1", "threat.indicator.file.hash.sha1"},
				{"file.hash.sha256", "threat.indicator.file.hash.sha256"},
				{"dll.hash.md5", "threat.indicator.file.hash.md5"},
				{"dll.hash.sha1", "threat.indicator.file.hash.sha1"},
				{"dll.hash.sha256", "threat.indicator.file.hash.sha256"},
				{"process.hash.md5", "threat.indicator.file.hash.md5"},
				{"process.hash.sha1", "threat.indicator.file.hash.sha1"},
				{"process.hash.sha256", "threat.indicator.file.hash.sha256"},
			}},
		{"threat_intel_indicator_match_registry.toml", "a61809f3-fb5b-465c-8bff-23a8a068ac60",
			"Threat Intel Windows Registry Indicator Match", q("threat.indicator.registry.path:*"),
			[]Mapping{{"registry.path", "threat.indicator.registry.path"}}},
		{"threat_intel_indicator_match_url.toml", "f3e22c8b-ea47-45d1-b502-b57b6de950b3",
			"Threat Intel URL Indicator Match", q("threat.indicator.url.full:*"),
			[]Mapping{{"url.full", "threat.indicator.url.full"}, {"url.original", "threat.indicator.url.original"}}},
	}
	if len(rules) != len(tests) {
		t.Fatalf("%d rules, want %d", len(rules), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := rules[i]
			wantDSL := readJSON(t, filepath.Join("testdata", strings.TrimSuffix(tt.file, ".toml")+".dsl.json"))
			want := Rule{
				File: tt.file, ID: tt.id, Name: tt.name,
				ThreatIndex:         []string{"filebeat-*", "logs-ti_*"},
				ThreatIndicatorPath: "threat.indicator",
				ThreatQuery:         tt.query,
				ThreatQueryDSL:      wantDSL,
				Mappings:            tt.mappings,
			}
			if diff := cmp.Diff(want, r); diff != "" {
				t.Errorf("rule (-want +got):\n%s", diff)
			}
		})
	}
	wantFields := []string{
		"threat.indicator.email.address", "threat.indicator.file.hash.md5", "threat.indicator.file.hash.sha1",
		"threat.indicator.file.hash.sha256", "threat.indicator.ip", "threat.indicator.registry.path",
		"threat.indicator.url.full", "threat.indicator.url.original",
	}
	if diff := cmp.Diff(wantFields, IndicatorFields(rules)); diff != "" {
		t.Errorf("IndicatorFields (-want +got):\n%s", diff)
	}
}

func readJSON(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

func TestParseErrors(t *testing.T) {
	base := `[rule]
type = "threat_match"
threat_language = "kuery"
rule_id = "x"
name = "n"
threat_indicator_path = "threat.indicator"
threat_index = ["logs-ti_*"]
threat_query = "a:*"
`
	mapping := `
[[rule.threat_mapping]]
[[rule.threat_mapping.entries]]
field = "source.ip"
type = "mapping"
value = "threat.indicator.ip"
`
	tests := []struct {
		name, src, want string
	}{
		{"ok", base + mapping, ""},
		{"not threat_match", strings.Replace(base, `"threat_match"`, `"query"`, 1) + mapping, `rule.type is "query", want "threat_match"`},
		{"lucene", strings.Replace(base, `"kuery"`, `"lucene"`, 1) + mapping, `rule.threat_language is "lucene"`},
		{"no mapping", base, "rule.threat_mapping: missing"},
		{"AND group", base + mapping + `[[rule.threat_mapping.entries]]
field = "destination.ip"
type = "mapping"
value = "threat.indicator.ip"
`, "2 entries"},
		{"bad KQL", strings.Replace(base, `"a:*"`, `"a:(b and c)"`, 1) + mapping, "rule.threat_query"},
		{"no rule", "[metadata]\n", "no [rule] table"},
		{"not TOML", "[rule]\nname = \"n\nx\"\n", "line 2"},
		{"wrong type", strings.Replace(base, `name = "n"`, `name = 5`, 1) + mapping, "rule.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.src)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestKQLToDSL(t *testing.T) {
	exists := func(f string) string {
		return `{"bool":{"should":[{"exists":{"field":"` + f + `"}}],"minimum_should_match":1}}`
	}
	match := func(f, v string) string {
		return `{"bool":{"should":[{"match":{"` + f + `":"` + v + `"}}],"minimum_should_match":1}}`
	}
	tests := []struct {
		name, kql, want string
	}{
		{"exists", "a:*", exists("a")},
		{"or binds looser than and", "a:* or b:* and c:*",
			`{"bool":{"should":[` + exists("a") + `,{"bool":{"filter":[` + exists("b") + `,` + exists("c") + `]}}],"minimum_should_match":1}}`},
		{"parentheses", "(a:* or b:*) and c:*",
			`{"bool":{"filter":[{"bool":{"should":[` + exists("a") + `,` + exists("b") + `],"minimum_should_match":1}},` + exists("c") + `]}}`},
		{"not binds tighter than and", "not a:* and b:*",
			`{"bool":{"filter":[{"bool":{"must_not":` + exists("a") + `}},` + exists("b") + `]}}`},
		{"keywords any case", "a:x AND NOT b:y",
			`{"bool":{"filter":[` + match("a", "x") + `,{"bool":{"must_not":` + match("b", "y") + `}}]}}`},
		{"phrase", `a:"x y"`, `{"bool":{"should":[{"match_phrase":{"a":"x y"}}],"minimum_should_match":1}}`},
		{"quoted star is a phrase", `a:"*"`, `{"bool":{"should":[{"match_phrase":{"a":"*"}}],"minimum_should_match":1}}`},
		{"escaped star is literal", `a:x\*`, match("a", "x*")},
		{"wildcard escaping", `a:x-y\*z*`, `{"bool":{"should":[{"query_string":{"fields":["a"],"query":"x\\-y\\*z*"}}],"minimum_should_match":1}}`},
		{"value list", "a:(x or y*)",
			`{"bool":{"should":[` + match("a", "x") + `,{"bool":{"should":[{"query_string":{"fields":["a"],"query":"y*"}}],"minimum_should_match":1}}],"minimum_should_match":1}}`},
		{"single value list", "a:(x)", match("a", "x")},
		{"ranges", `a >= "now-1d" and b<5`,
			`{"bool":{"filter":[{"bool":{"should":[{"range":{"a":{"gte":"now-1d"}}}],"minimum_should_match":1}},{"bool":{"should":[{"range":{"b":{"lt":5}}}],"minimum_should_match":1}}]}}`},
		{"typed literals", "a:true and b:12",
			`{"bool":{"filter":[{"bool":{"should":[{"match":{"a":true}}],"minimum_should_match":1}},{"bool":{"should":[{"match":{"b":12}}],"minimum_should_match":1}}]}}`},
		{"wildcard field", "a.*:*", exists("a.*")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kqlToDSL(tt.kql)
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("want: %v", err)
			}
			b, _ := json.Marshal(got)
			var gotJSON any
			_ = json.Unmarshal(b, &gotJSON)
			if diff := cmp.Diff(want, gotJSON); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	bad := []struct{ name, kql, want string }{
		{"field-less term", "foo", "terms without a field"},
		{"field-less term in and", "a:* and foo", "terms without a field"},
		{"and in value list", "a:(x and y)", "only or"},
		{"unterminated quote", `a:"x`, "unterminated"},
		{"missing paren", "(a:*", "missing )"},
		{"trailing", "a:* )", "unexpected"},
		{"nested", "a:{b:c}", "nested queries"},
		{"empty", "", "unexpected end"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kqlToDSL(tt.kql)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
