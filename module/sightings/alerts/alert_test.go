package alerts

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixture loads an es_archiver document of ../testdata.
func fixture(t *testing.T, name string) (id, index string, src map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Value struct {
			ID     string         `json:"id"`
			Index  string         `json:"index"`
			Source map[string]any `json:"source"`
		} `json:"value"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Value.ID, doc.Value.Index, doc.Value.Source
}

func hit(t *testing.T, id, index string, src map[string]any) Hit {
	t.Helper()
	b, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	return Hit{ID: id, Index: index, Source: b}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// edit returns a deep copy of src changed by fn.
func edit(src map[string]any, fn func(m map[string]any)) map[string]any {
	b, _ := json.Marshal(src)
	var c map[string]any
	_ = json.Unmarshal(b, &c)
	fn(c)
	return c
}

func TestParse(t *testing.T) {
	id8, index8, src8 := fixture(t, "kibana-8.1.0-indicator-match-alert.json")
	id7, index7, src7 := fixture(t, "kibana-7.14-legacy-siem-signal-indicator-match.json")
	ecsIDs := []any{"5d3f1c9a-6f1e-4c1a-9f0e-2b8c7a6d5e4f", "indicator--0f2b2c5e-3d7e-5a57-8a8e-1c7f0d6b9a11"}

	// 7.15+ signal: the 7.14 fixture with threat.enrichments[] instead.
	src715 := edit(src7, func(m map[string]any) {
		legacy := m["threat"].(map[string]any)["indicator"].([]any)[0].(map[string]any)
		matched := legacy["matched"]
		delete(legacy, "matched")
		m["threat"] = map[string]any{"enrichments": []any{map[string]any{"indicator": legacy, "matched": matched, "feed": map[string]any{}}}}
	})

	tests := []struct {
		name    string
		id      string
		index   string
		src     map[string]any
		want    Alert
		wantErr string // skip reason
	}{
		{
			name: "8.1.0 fixture: flat kibana.alert keys, matched document",
			id:   id8, index: index8, src: src8,
			want: Alert{ID: id8, Index: index8, Time: mustTime("2022-03-19T02:47:57.376Z"), Enrichments: []Enrichment{{
				MatchedIndex: "threat-index-000001", MatchedID: "XhEToH8BK09aFtXZBFPs", MatchedAtomic: "security-linux-1", MatchedField: "host.name",
			}}},
		},
		{
			name: "8.x with openctibeat's ids in the enrichment",
			id:   id8, index: index8,
			src: edit(src8, func(m map[string]any) {
				e := m["threat"].(map[string]any)["enrichments"].([]any)[0].(map[string]any)
				e["indicator"] = map[string]any{"id": ecsIDs, "type": "domain-name"}
			}),
			want: Alert{ID: id8, Index: index8, Time: mustTime("2022-03-19T02:47:57.376Z"), Enrichments: []Enrichment{{
				IndicatorIDs: []string{ecsIDs[0].(string), ecsIDs[1].(string)},
				MatchedIndex: "threat-index-000001", MatchedID: "XhEToH8BK09aFtXZBFPs", MatchedAtomic: "security-linux-1", MatchedField: "host.name",
			}}},
		},
		{
			name: "8.x nested objects instead of dotted keys",
			id:   "n", index: index8,
			src: map[string]any{
				"@timestamp": "2024-01-01T00:00:10Z",
				"kibana":     map[string]any{"alert": map[string]any{"original_time": "2024-01-01T00:00:01.123456Z"}},
				"threat":     map[string]any{"enrichments": map[string]any{"indicator": map[string]any{"id": "only-one"}}},
			},
			want: Alert{ID: "n", Index: index8, Time: mustTime("2024-01-01T00:00:01.123Z"), Enrichments: []Enrichment{{IndicatorIDs: []string{"only-one"}}}},
		},
		{
			name: "7.14 fixture: threat.indicator[] with matched, signal.original_time",
			id:   id7, index: index7, src: src7,
			want: Alert{ID: id7, Index: index7, Time: mustTime("2021-08-04T04:14:53.490Z"), Enrichments: []Enrichment{{
				MatchedIndex: "filebeat-7.14.0-2021.08.04-000001", MatchedID: "_tdUD3sBcVT20cvWAkpd", MatchedAtomic: "elastic.local", MatchedField: "host.name", Legacy: true,
			}}},
		},
		{
			name: "7.15+ signal: threat.enrichments[], signal.original_time",
			id:   id7, index: index7, src: src715,
			want: Alert{ID: id7, Index: index7, Time: mustTime("2021-08-04T04:14:53.490Z"), Enrichments: []Enrichment{{
				MatchedIndex: "filebeat-7.14.0-2021.08.04-000001", MatchedID: "_tdUD3sBcVT20cvWAkpd", MatchedAtomic: "elastic.local", MatchedField: "host.name",
			}}},
		},
		{
			name: "no original time: @timestamp",
			id:   id8, index: index8,
			src: edit(src8, func(m map[string]any) { delete(m, "kibana.alert.original_time") }),
			want: Alert{ID: id8, Index: index8, Time: mustTime("2022-03-19T02:48:12.634Z"), Enrichments: []Enrichment{{
				MatchedIndex: "threat-index-000001", MatchedID: "XhEToH8BK09aFtXZBFPs", MatchedAtomic: "security-linux-1", MatchedField: "host.name",
			}}},
		},
		{
			name: "epoch milliseconds",
			id:   "e", index: index8,
			src:  map[string]any{"@timestamp": 1704067200000, "threat": map[string]any{"enrichments": []any{map[string]any{"matched": map[string]any{"atomic": "x"}}}}},
			want: Alert{ID: "e", Index: index8, Time: mustTime("2024-01-01T00:00:00Z"), Enrichments: []Enrichment{{MatchedAtomic: "x"}}},
		},
		{
			name: "unparsable original time falls back to @timestamp",
			id:   "u", index: index8,
			src:  map[string]any{"@timestamp": "2024-01-01T00:00:00Z", "kibana.alert.original_time": "yesterday", "threat": map[string]any{"enrichments": []any{map[string]any{"matched": map[string]any{"atomic": "x"}}}}},
			want: Alert{ID: "u", Index: index8, Time: mustTime("2024-01-01T00:00:00Z"), Enrichments: []Enrichment{{MatchedAtomic: "x"}}},
		},
		{
			name: "other match types are ignored",
			id:   "o", index: index8,
			src: map[string]any{"@timestamp": "2024-01-01T00:00:00Z", "threat": map[string]any{"enrichments": []any{
				map[string]any{"matched": map[string]any{"atomic": "a", "type": "investigation_time"}},
				map[string]any{"matched": map[string]any{"atomic": "b", "type": "indicator_match_rule"}},
			}}},
			want: Alert{ID: "o", Index: index8, Time: mustTime("2024-01-01T00:00:00Z"), Enrichments: []Enrichment{{MatchedAtomic: "b"}}},
		},
		{name: "no time at all", id: "t", src: edit(src8, func(m map[string]any) {
			delete(m, "kibana.alert.original_time")
			delete(m, "@timestamp")
		}), wantErr: ReasonMissingTime},
		{name: "times that are not dates", id: "t", src: map[string]any{"@timestamp": true, "signal": map[string]any{"original_time": "soon"}}, wantErr: ReasonMissingTime},
		{name: "enrichments is a string", id: "m", src: edit(src8, func(m map[string]any) { m["threat"] = map[string]any{"enrichments": "oops"} }), wantErr: ReasonMalformedEnrichment},
		{name: "enrichments are not objects", id: "m", src: edit(src8, func(m map[string]any) { m["threat"] = map[string]any{"enrichments": []any{"a", 1}} }), wantErr: ReasonMalformedEnrichment},
		{name: "enrichments name nothing", id: "m", src: edit(src8, func(m map[string]any) {
			m["threat"] = map[string]any{"enrichments": []any{map[string]any{"indicator": map[string]any{}, "matched": map[string]any{"type": "indicator_match_rule"}}}}
		}), wantErr: ReasonMalformedEnrichment},
		{name: "no enrichments", id: "m", src: edit(src8, func(m map[string]any) { delete(m, "threat") }), wantErr: ReasonMalformedEnrichment},
		{name: "7.14 entries without matched", id: "m", src: edit(src7, func(m map[string]any) {
			m["threat"] = map[string]any{"indicator": []any{map[string]any{"domain": "x"}}}
		}), wantErr: ReasonMalformedEnrichment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(hit(t, tt.id, tt.index, tt.src))
			if tt.wantErr != "" {
				var se *SkipError
				if !errors.As(err, &se) || se.Reason != tt.wantErr {
					t.Fatalf("err = %v, want a skip for %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("alert (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseMalformedSource(t *testing.T) {
	for _, src := range []string{`{not json`, `[1,2]`, ``} {
		_, err := Parse(Hit{ID: "x", Source: json.RawMessage(src)})
		var se *SkipError
		if !errors.As(err, &se) || se.Reason != ReasonMalformedAlert {
			t.Errorf("source %q: err = %v", src, err)
		}
	}
}

func TestGet(t *testing.T) {
	doc := map[string]any{
		"a.b":  map[string]any{"c": 1.0},
		"a":    map[string]any{"x": map[string]any{"y": 2.0}, "b.d": 3.0},
		"flat": map[string]any{"k.l.m": 4.0},
	}
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"a.b.c", 1.0, true}, {"a.x.y", 2.0, true}, {"a.b.d", 3.0, true}, {"flat.k.l.m", 4.0, true},
		{"a.z", nil, false}, {"nope", nil, false},
	}
	for _, tt := range tests {
		got, ok := Get(doc, tt.path)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Get(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIndicatorDocIDs(t *testing.T) {
	doc := map[string]any{
		"threat":  map[string]any{"indicator": map[string]any{"id": []any{"internal", "indicator--stix"}}},
		"opencti": map[string]any{"indicator": map[string]any{"id": "internal"}},
	}
	if d := cmp.Diff([]string{"internal", "internal", "indicator--stix"}, IndicatorDocIDs(doc)); d != "" {
		t.Fatal(d)
	}
}

func TestBody(t *testing.T) {
	r := NewReader(nil, []string{".alerts-security.alerts-*"}, json.RawMessage(`{"term":{"kibana.alert.workflow_status":"open"}}`), time.Second)
	b, err := r.Body(Query{From: mustTime("2024-01-01T00:00:00.5Z"), After: []any{json.Number("1704067200000"), "u", "", ""}, Size: 7})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"size": 7.0, "track_total_hits": false,
		"_source":      map[string]any{"includes": []any{"@timestamp", "kibana.alert.original_time", "signal.original_time", "kibana.alert.uuid", "threat.enrichments", "threat.indicator"}},
		"search_after": []any{1704067200000.0, "u", "", ""},
		"sort": []any{
			map[string]any{"@timestamp": map[string]any{"order": "asc", "unmapped_type": "date"}},
			map[string]any{"kibana.alert.uuid": map[string]any{"order": "asc", "unmapped_type": "keyword", "missing": ""}},
			map[string]any{"signal.rule.id": map[string]any{"order": "asc", "unmapped_type": "keyword", "missing": ""}},
			map[string]any{"signal.parent.id": map[string]any{"order": "asc", "unmapped_type": "keyword", "missing": ""}},
		},
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"range": map[string]any{"@timestamp": map[string]any{"gte": "2024-01-01T00:00:00.500Z", "format": "strict_date_optional_time"}}},
			map[string]any{"bool": map[string]any{"minimum_should_match": 1.0, "should": []any{
				map[string]any{"term": map[string]any{"kibana.alert.rule.type": "threat_match"}},
				map[string]any{"term": map[string]any{"signal.rule.type": "threat_match"}},
			}}},
			map[string]any{"term": map[string]any{"kibana.alert.workflow_status": "open"}},
		}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("body (-want +got):\n%s", d)
	}
}
