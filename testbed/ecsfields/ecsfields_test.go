package ecsfields

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elastic/elastic-agent-libs/mapstr"

	"github.com/openctibeat/openctibeat/esindex"
)

// indicatorDoc is an ecs mode document as JSON (nested objects).
const indicatorDoc = `{
  "@timestamp": "2024-05-01T10:00:00.000Z",
  "tags": ["osint", "c2"],
  "ecs": {"version": "8.0.0"},
  "agent": {"ephemeral_id": "e", "id": "i", "name": "n", "type": "openctibeat", "version": "9.4.0"},
  "event": {"kind": "enrichment", "category": ["threat"], "type": ["indicator"],
            "module": "ti_openctibeat", "dataset": "ti_openctibeat.indicator"},
  "threat": {
    "feed": {"name": "OpenCTI", "reference": "https://opencti.example.com"},
    "indicator": {
      "type": "ipv4-addr", "name": "198.51.100.7", "description": "C2 server",
      "confidence": "High", "provider": "CIRCL", "reference": "https://opencti.example.com/dashboard/observations/indicators/1",
      "first_seen": "2024-04-01T00:00:00.000Z", "last_seen": "2024-04-02T00:00:00Z",
      "modified_at": "2024-04-02T00:00:00.123456789+02:00",
      "id": ["cee1aad9-81a9-4e38-a829-a06b56b29338", "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"],
      "marking": {"tlp": "AMBER+STRICT", "tlp_version": "2.0"},
      "ip": "198.51.100.7", "port": 443,
      "as": {"number": 64500, "organization": {"name": "Example"}},
      "file": {"size": 1024, "hash": {"sha256": "ab"}},
      "x509": {"not_before": "2024-01-01T00:00:00Z", "alternative_names": ["a.example", "b.example"]}
    }
  },
  "opencti": {
    "indicator": {
      "id": "cee1aad9-81a9-4e38-a829-a06b56b29338", "stix_id": "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad",
      "name": "198.51.100.7", "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
      "pattern_version": "2.1", "score": 80, "detection": true, "revoked": false,
      "valid_from": "2024-04-01T00:00:00.000Z", "valid_until": "2025-04-01T00:00:00.000Z",
      "main_observable_type": "IPv4-Addr", "indicator_types": ["malicious-activity"],
      "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"},
                            {"kill_chain_name": "lockheed", "phase_name": "c2"}],
      "created": "2024-04-01T00:00:00.000Z", "modified": "2024-04-02T00:00:00.000Z",
      "created_by": "identity--4f347cc9-4658-59ee-9707-134f434f9d1c", "labels": ["osint", "c2"]
    },
    "observable": {"type": "ipv4-addr", "value": "198.51.100.7", "values": {"value": "198.51.100.7", "x": {"y": 1}}}
  }
}`

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCheckGood(t *testing.T) {
	ts := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	type label string
	tests := []struct {
		name string
		doc  map[string]any
	}{
		{"nested JSON", decode(t, indicatorDoc)},
		{"flat dotted keys, Go values", map[string]any{
			"@timestamp":                             ts,
			"event.kind":                             "enrichment",
			"event.category":                         []string{"threat"},
			"event.type":                             []any{"indicator"},
			"threat.indicator.port":                  int64(80),
			"threat.indicator.url.port":              uint16(8080),
			"threat.indicator.file.size":             json.Number("12"),
			"threat.indicator.ip":                    "2001:db8::1",
			"threat.indicator.url.full":              "http://a.example/x",
			"threat.indicator.registry.data.strings": []string{"a", "b"},
			"threat.indicator.x509.not_after":        &ts,
			"threat.indicator.marking.tlp":           label("RED"),
			"opencti.observable.ip_range":            "203.0.113.0/24",
			"opencti.indicator.score":                float64(50),
			"opencti.indicator.kill_chain_phases":    []any{map[string]any{"phase_name": "x"}},
			"opencti.observable.values":              map[string]any{"hashes.SHA-256": "ab", "deep": map[string]any{"er": []any{1, "x"}}},
		}},
		{"mapstr, labels, geo, mixed nesting", map[string]any{
			"threat":  mapstr.M{"indicator.ip": "10.0.0.1", "indicator": mapstr.M{"geo.location": map[string]any{"lat": 1.5, "lon": 2}}},
			"labels":  map[string]string{"is_ioc_transform_source": "false"},
			"opencti": map[string]any{"observable.ip_range": map[string]any{"gte": "10.0.0.0", "lte": "10.0.0.255"}},
			// null and empty arrays are accepted for declared fields.
			"threat.indicator.name": nil,
			"tags":                  []string{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(tt.doc); len(got) != 0 {
				t.Errorf("problems:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

func TestCheckBad(t *testing.T) {
	tests := []struct {
		name string
		doc  map[string]any
		want []string
	}{
		{"unknown fields", map[string]any{
			"threat.indicator.mac": "00-00-5E-00-53-00",
			"opencti":              map[string]any{"indicator": map[string]any{"foo": "x", "bar": map[string]any{"baz": 1}}},
			"x_opencti_score":      50,
			"unknown":              map[string]any{},
		}, []string{
			"opencti.indicator.bar.baz: neither an ECS 9.4 field nor declared under opencti. in _meta/fields.yml",
			"opencti.indicator.foo: neither an ECS 9.4 field nor declared under opencti. in _meta/fields.yml",
			"threat.indicator.mac: neither an ECS 9.4 field nor declared under opencti. in _meta/fields.yml",
			"unknown: neither an ECS 9.4 field nor declared under opencti. in _meta/fields.yml",
			"x_opencti_score: neither an ECS 9.4 field nor declared under opencti. in _meta/fields.yml",
		}},
		{"wrong JSON types", map[string]any{
			"threat.indicator.port":       "443",
			"threat.indicator.confidence": 80,
			"threat.indicator.first_seen": "2024-04-01",
			"threat.indicator.ip":         "198.51.100.0/24",
			"threat.indicator.as.number":  1.5,
			"opencti.indicator.revoked":   "false",
			"opencti.indicator.score":     []any{50, "x"},
			"opencti.observable.ip_range": "10.0.0.0/33",
			"threat.indicator.url.port":   int64(1) << 40,
			"event.category":              []any{[]any{"threat"}},
		}, []string{
			`event.category: array nested in an array`,
			`opencti.indicator.revoked: string false is not a boolean (field type boolean)`,
			`opencti.indicator.score: string x is not a number (field type long)`,
			`opencti.observable.ip_range: "10.0.0.0/33" is neither a CIDR block nor an address range a-b (field type ip_range)`,
			`threat.indicator.as.number: 1.5 is not an integer (field type long)`,
			`threat.indicator.confidence: number 80 is not a string (field type keyword)`,
			`threat.indicator.first_seen: "2024-04-01" is not an RFC 3339 date (field type date)`,
			`threat.indicator.ip: "198.51.100.0/24" is not an IP address (field type ip)`,
			`threat.indicator.port: string 443 is not a number (field type long)`,
		}},
		{"objects where values go and back", map[string]any{
			"threat":                 "x",
			"event":                  map[string]any{"kind": map[string]any{"a": "b"}},
			"labels":                 map[string]any{"n": 1, "o": map[string]any{}},
			"threat.indicator.email": "a@b.example",
		}, []string{
			"event.kind: object for a keyword field",
			"labels.n: number 1 is not a string (field type keyword)",
			"labels.o: object inside labels, whose values are keyword",
			"threat.indicator.email: a@b.example where ECS or _meta/fields.yml has an object",
			"threat: x where ECS or _meta/fields.yml has an object",
		}},
		{"bad keys", map[string]any{"": 1, "a..b": 1, "threat.": 1}, []string{
			`: invalid key ""`,
			`a..b: invalid key "a..b"`,
			`threat.: invalid key "threat."`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.doc)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpectedValues(t *testing.T) {
	tests := []struct {
		field string
		want  []string
	}{
		{"threat.indicator.type", []string{"autonomous-system", "artifact", "directory", "domain-name", "email-addr",
			"file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "port", "process", "software", "url",
			"user-account", "windows-registry-key", "x509-certificate"}},
		{"threat.indicator.confidence", []string{"Not Specified", "None", "Low", "Medium", "High"}},
		{"threat.indicator.marking.tlp", []string{"WHITE", "CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"}},
		{"event.kind", []string{"alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal"}},
		{"threat.indicator.ip", nil},
		{"no.such.field", nil},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ExpectedValues(tt.field)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, c := range []struct{ field, value string }{
		{"event.category", "threat"}, {"event.type", "indicator"}, {"event.kind", "enrichment"},
	} {
		found := false
		for _, v := range ExpectedValues(c.field) {
			found = found || v == c.value
		}
		if !found {
			t.Errorf("%s: %q not among %v", c.field, c.value, ExpectedValues(c.field))
		}
	}
}

// TestFieldsYMLIsECS checks that every field _meta/fields.yml declares
// outside opencti.* is declared as in ECS 9.4.
func TestFieldsYMLIsECS(t *testing.T) {
	s := mustLoad()
	fs, err := esindex.Fields()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, f := range leaves(fs, "") {
		if strings.HasPrefix(name, "opencti.") {
			if strings.TrimSpace(f.Description) == "" {
				t.Errorf("%s has no description", name)
			}
			if _, ok := s.ecs[name]; ok {
				t.Errorf("%s is an ECS field: declare it outside opencti.*", name)
			}
			continue
		}
		n++
		e, ok := s.ecs[name]
		if !ok {
			t.Errorf("%s is not an ECS 9.4 field", name)
			continue
		}
		type decl struct {
			Type        string
			IgnoreAbove int
			MultiFields map[string]string
			Description string
		}
		want := decl{e.Type, e.IgnoreAbove, map[string]string{}, strings.TrimSpace(e.Description)}
		for _, m := range e.MultiFields {
			want.MultiFields[m.Name] = m.Type
		}
		got := decl{f.Type, f.IgnoreAbove, map[string]string{}, strings.TrimSpace(f.Description)}
		for _, m := range f.MultiFields {
			got.MultiFields[m.Name] = m.Type
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s differs from ECS 9.4 (-ecs +fields.yml):\n%s", name, diff)
		}
	}
	if n < 60 {
		t.Errorf("only %d ECS fields in fields.yml", n)
	}
}

// TestFieldsYMLDeclaresDocumentFields lists the fields ecs mode writes.
func TestFieldsYMLDeclaresDocumentFields(t *testing.T) {
	fs, err := esindex.Fields()
	if err != nil {
		t.Fatal(err)
	}
	declared := leaves(fs, "")
	var want []string
	want = append(want, "@timestamp", "tags", "event.kind", "event.category", "event.type", "event.module",
		"event.dataset", "threat.feed.name", "threat.feed.reference")
	for _, f := range strings.Fields(`type name description confidence provider reference first_seen last_seen
		modified_at id marking.tlp marking.tlp_version ip port email.address url.full url.original url.domain
		url.scheme url.path url.port url.query file.hash.md5 file.hash.sha1 file.hash.sha256 file.hash.sha384
		file.hash.sha512 file.hash.ssdeep file.hash.tlsh file.name file.size file.mime_type file.path
		file.directory registry.key registry.path registry.hive registry.value registry.data.strings
		registry.data.type as.number as.organization.name x509.serial_number x509.issuer.distinguished_name
		x509.subject.distinguished_name x509.version_number x509.not_before x509.not_after
		x509.signature_algorithm x509.public_key_algorithm x509.alternative_names`) {
		want = append(want, "threat.indicator."+f)
	}
	for _, f := range strings.Fields(`id stix_id name pattern pattern_type pattern_version score detection
		valid_from valid_until revoked main_observable_type indicator_types kill_chain_phases.kill_chain_name
		kill_chain_phases.phase_name created modified created_by labels`) {
		want = append(want, "opencti.indicator."+f)
	}
	want = append(want, "opencti.observable.type", "opencti.observable.value", "opencti.observable.ip_range",
		"opencti.observable.values")
	for _, f := range want {
		if _, ok := declared[f]; !ok {
			t.Errorf("%s is not declared in _meta/fields.yml", f)
		}
	}
}
