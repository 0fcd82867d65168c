package ecsmode

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"
	"github.com/google/go-cmp/cmp"

	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/stix"
	"github.com/openctibeat/openctibeat/stix/pattern"
	"github.com/openctibeat/openctibeat/testbed/ecsfields"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

// indicator returns an indicator as OpenCTI streams it.
func indicator(pat string, mut func(m map[string]any)) stix.Object {
	m := map[string]any{
		"id":                  "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad",
		"type":                "indicator",
		"spec_version":        "2.1",
		"created":             "2024-02-25T22:25:59.717Z",
		"modified":            "2026-11-02T16:33:20.409Z",
		"confidence":          float64(75),
		"labels":              []any{"c2", "apt"},
		"name":                "test indicator",
		"description":         "download location",
		"pattern":             pat,
		"pattern_type":        "stix",
		"valid_from":          "2026-09-09T05:58:03.000Z",
		"valid_until":         "2027-09-09T05:58:03.000Z",
		"created_by_ref":      "identity--4f347cc9-4658-59ee-9707-134f434f9d1c",
		"object_marking_refs": []any{"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"},
		"kill_chain_phases":   []any{map[string]any{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}},
		"indicator_types":     []any{"malicious-activity"},
		"extensions": map[string]any{stix.OpenCTIExtension: map[string]any{
			"id": "cee1aad9-81a9-4e38-a829-a06b56b29338", "score": float64(80), "detection": true, "main_observable_type": "IPv4-Addr",
		}},
	}
	if mut != nil {
		mut(m)
	}
	o, err := stix.FromMap(m)
	if err != nil {
		panic(err)
	}
	return o
}

func newMapper() *Mapper {
	m := New(DefaultConfig(), "https://opencti.example.com/", clock)
	ident, _ := stix.FromMap(map[string]any{"type": "identity", "id": "identity--4f347cc9-4658-59ee-9707-134f434f9d1c", "name": "CIRCL"})
	if docs, err := m.Map(event.Event{Kind: event.Create, Object: ident}); err != nil || len(docs) != 0 {
		panic("identity produced documents")
	}
	return m
}

type goldenDoc struct {
	Op      string         `json:"op"`
	ID      string         `json:"id"`
	Index   string         `json:"index"`
	Expires string         `json:"expires,omitempty"`
	Fields  map[string]any `json:"fields,omitempty"`
}

func render(docs []mapping.Doc) []goldenDoc {
	out := make([]goldenDoc, len(docs))
	for i, d := range docs {
		g := goldenDoc{Op: d.Op.String(), ID: d.ID, Index: d.Index}
		if !d.Expires.IsZero() {
			g.Expires = d.Expires.UTC().Format(time.RFC3339)
		}
		if d.Op == mapping.Index {
			g.Fields = d.Fields
		}
		out[i] = g
	}
	return out
}

func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "golden", strings.ReplaceAll(name, " ", "_")+".json")
	if *update {
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, b)
	}
}

// TestObservableTypes maps one indicator per observable type and grammar
// case and compares the documents with golden files.
func TestObservableTypes(t *testing.T) {
	raw, err := os.ReadFile("testdata/indicators.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]string
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		if !strings.HasPrefix(n, "_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			docs, err := newMapper().Map(event.Event{Kind: event.Create, Object: indicator(cases[name], nil)})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "type "+name, render(docs))
			seen := map[string]bool{}
			for _, d := range docs {
				if seen[d.ID] {
					t.Errorf("duplicate id %s", d.ID)
				}
				seen[d.ID] = true
			}
		})
	}
}

func ids(docs []mapping.Doc, op mapping.Op) []string {
	var out []string
	for _, d := range docs {
		if d.Op == op {
			out = append(out, d.ID)
		}
	}
	sort.Strings(out)
	return out
}

func TestLifecycle(t *testing.T) {
	const two = "[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.2']"
	const twoOther = "[ipv4-addr:value = '198.51.100.2'] OR [ipv4-addr:value = '198.51.100.3']"
	m := newMapper()
	created, _ := m.Map(event.Event{Kind: event.Create, Object: indicator(two, nil)})
	createdIDs := ids(created, mapping.Index)
	if len(createdIDs) != 2 {
		t.Fatalf("create: %v", createdIDs)
	}
	again, _ := m.Map(event.Event{Kind: event.Create, Object: indicator(two, nil)})
	if strings.Join(ids(again, mapping.Index), ",") != strings.Join(createdIDs, ",") {
		t.Fatal("ids are not deterministic")
	}
	otherIDs := ids(mustMap(t, m, event.Event{Kind: event.Create, Object: indicator(twoOther, nil)}), mapping.Index)
	if len(without(createdIDs, otherIDs)) != 1 {
		t.Fatalf("the two patterns should share one observable: %v %v", createdIDs, otherIDs)
	}

	tests := []struct {
		name    string
		ev      event.Event
		puts    []string
		deletes []string
	}{
		{
			name:    "pattern change deletes observables no longer in it",
			ev:      event.Event{Kind: event.Update, Object: indicator(twoOther, nil), Previous: map[string]any{"pattern": two}},
			puts:    otherIDs,
			deletes: without(createdIDs, otherIDs),
		},
		{
			name: "update without pattern change deletes nothing",
			ev:   event.Event{Kind: event.Update, Object: indicator(two, nil), Previous: map[string]any{"name": "old"}},
			puts: createdIDs,
		},
		{
			name:    "revocation deletes every document",
			ev:      event.Event{Kind: event.Update, Object: indicator(two, func(m map[string]any) { m["revoked"] = true }), Previous: map[string]any{"revoked": false}},
			deletes: createdIDs,
		},
		{
			name:    "revocation with a pattern change deletes both patterns' documents",
			ev:      event.Event{Kind: event.Update, Object: indicator(twoOther, func(m map[string]any) { m["revoked"] = true }), Previous: map[string]any{"pattern": two}},
			deletes: union(createdIDs, otherIDs),
		},
		{
			name:    "expired indicator deletes every document",
			ev:      event.Event{Kind: event.Create, Object: indicator(two, func(m map[string]any) { m["valid_until"] = "2026-11-27T11:59:59Z" })},
			deletes: createdIDs,
		},
		{
			name:    "delete deletes every document",
			ev:      event.Event{Kind: event.Delete, Object: indicator(two, nil)},
			deletes: createdIDs,
		},
		{
			name: "merge deletes the sources' documents and writes the target",
			ev: event.Event{Kind: event.Merge, Object: indicator(twoOther, nil), Sources: []stix.Object{indicator(two, func(m map[string]any) {
				m["id"] = "indicator--11111111-300e-54a8-9b7e-041e303406ad"
				m["extensions"] = map[string]any{stix.OpenCTIExtension: map[string]any{"id": "11111111-81a9-4e38-a829-a06b56b29338"}}
			})}},
			puts:    otherIDs,
			deletes: renamed(createdIDs, "cee1aad9-81a9-4e38-a829-a06b56b29338", "11111111-81a9-4e38-a829-a06b56b29338"),
		},
		{
			name: "non-indicator objects give nothing",
			ev:   event.Event{Kind: event.Create, Object: mustObject(map[string]any{"type": "malware", "id": "malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710"})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := mustMap(t, m, tt.ev)
			if got := ids(docs, mapping.Index); strings.Join(got, ",") != strings.Join(sorted(tt.puts), ",") {
				t.Errorf("puts %v, want %v", got, sorted(tt.puts))
			}
			if got := ids(docs, mapping.Delete); strings.Join(got, ",") != strings.Join(sorted(tt.deletes), ",") {
				t.Errorf("deletes %v, want %v", got, sorted(tt.deletes))
			}
		})
	}
}

func TestInvalidPatterns(t *testing.T) {
	m := newMapper()
	for _, pat := range []string{"[ipv4-addr:value = '1.2.3.4'", "ipv4-addr:value = '1.2.3.4'", "[ipv4-addr:value = ]", ""} {
		docs, err := m.Map(event.Event{Kind: event.Create, Object: indicator(pat, nil)})
		if !errors.Is(err, ErrInvalidPattern) || len(docs) != 0 {
			t.Errorf("pattern %q: docs %d err %v", pat, len(docs), err)
		}
		if err != nil && !strings.Contains(err.Error(), "offset") {
			t.Errorf("pattern %q: error %q does not say where", pat, err)
		}
	}
}

func TestNonSTIXPatterns(t *testing.T) {
	m := newMapper()
	for _, typ := range []string{"yara", "sigma", "snort", "suricata", "pcre", "kql", "eql", "spl"} {
		docs, err := m.Map(event.Event{Kind: event.Create, Object: indicator("rule x { condition: true }", func(m map[string]any) { m["pattern_type"] = typ })})
		if err != nil || len(docs) != 1 || docs[0].ID != "cee1aad9-81a9-4e38-a829-a06b56b29338:pattern" {
			t.Fatalf("%s: %v %+v", typ, err, docs)
		}
		octi := docs[0].Fields["opencti"].(map[string]any)["indicator"].(map[string]any)
		if octi["pattern_type"] != typ || octi["pattern"] != "rule x { condition: true }" {
			t.Fatalf("%s: %v", typ, octi)
		}
	}
	checkGolden(t, "non-stix yara", render(mustMap(t, m, event.Event{Kind: event.Create, Object: indicator("rule x { condition: true }", func(m map[string]any) { m["pattern_type"] = "yara" })})))
}

// TestReferencesWithoutCredentials: credentials in OpenCTI's URL
// (https://user:pass@host) reach no document; the links keep the rest of
// the URL.
func TestReferencesWithoutCredentials(t *testing.T) {
	const internalID = "cee1aad9-81a9-4e38-a829-a06b56b29338"
	tests := []struct {
		name, url, wantFeed string
	}{
		{"user and password", "https://octi-user:s3cret-pass@opencti.example.com/", "https://opencti.example.com"},
		{"user only", "https://octi-user@opencti.example.com:8443/octi", "https://opencti.example.com:8443/octi"},
		{"no credentials", "https://opencti.example.com/", "https://opencti.example.com"},
		{"unparsable", "https://octi-user:s3cret-pass@opencti.example.com:port/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(DefaultConfig(), tt.url, clock)
			var docs []mapping.Doc
			for _, obj := range []stix.Object{
				indicator("[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'c2.example.net']", nil),
				indicator("rule x { condition: true }", func(m map[string]any) { m["pattern_type"] = "yara" }),
			} {
				docs = append(docs, mustMap(t, m, event.Event{Kind: event.Create, Object: obj})...)
			}
			if len(docs) != 3 {
				t.Fatalf("%d documents, want 3", len(docs))
			}
			wantRef := ""
			if tt.wantFeed != "" {
				wantRef = tt.wantFeed + "/dashboard/observations/indicators/" + internalID
			}
			for _, d := range docs {
				threat := d.Fields["threat"].(map[string]any)
				feedRef, _ := threat["feed"].(map[string]any)["reference"].(string)
				ref, _ := threat["indicator"].(map[string]any)["reference"].(string)
				if feedRef != tt.wantFeed || ref != wantRef {
					t.Errorf("%s: threat.feed.reference %q, threat.indicator.reference %q; want %q, %q", d.ID, feedRef, ref, tt.wantFeed, wantRef)
				}
				b, err := json.Marshal(d.Fields)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte("s3cret-pass")) || bytes.Contains(b, []byte("octi-user")) {
					t.Errorf("%s carries the URL's credentials: %s", d.ID, b)
				}
			}
		})
	}
}

// TestObservablesTruncated: an indicator whose pattern expands past
// pattern.MaxObservables keeps its first ones and is counted and logged
// with its ids, how many observables it has and the limit.
func TestObservablesTruncated(t *testing.T) {
	values := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			if i > from {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "'10.0.%d.%d'", i/250, i%250)
		}
		return b.String()
	}
	tests := []struct {
		name, pattern string
		docs          int
		truncated     bool
		observables   int64
	}{
		{"at the limit", "[ipv4-addr:value IN (" + values(0, pattern.MaxObservables) + ")]", pattern.MaxObservables, false, 0},
		{"past the limit", "[ipv4-addr:value IN (" + values(0, 1500) + ")]", pattern.MaxObservables, true, 1500},
		{"past the limit across observations", "[ipv4-addr:value IN (" + values(0, 700) + ")] OR [ipv4-addr:value IN (" + values(700, 1200) + ")]", pattern.MaxObservables, true, 1200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := monitoring.NewRegistry()
			log, logs := logptest.NewTestingLoggerWithObserver(t, "")
			m := New(DefaultConfig(), "https://opencti.example.com", clock, WithLogger(log), WithMetrics(NewMetrics(reg)))
			docs := mustMap(t, m, event.Event{ID: "1700000000000-0", Kind: event.Create, Object: indicator(tt.pattern, nil)})
			if len(docs) != tt.docs {
				t.Fatalf("%d documents, want %d", len(docs), tt.docs)
			}
			wantCount := int64(0)
			if tt.truncated {
				wantCount = 1
			}
			if got := monitoring.CollectFlatSnapshot(reg, monitoring.Full, false).Ints["observables_truncated_total"]; got != wantCount {
				t.Errorf("observables_truncated_total = %d, want %d", got, wantCount)
			}
			entries := logs.FilterMessageSnippet("observables limit").AllUntimed()
			if !tt.truncated {
				if len(entries) != 0 {
					t.Fatalf("logged %v", entries)
				}
				return
			}
			if len(entries) != 1 {
				t.Fatalf("%d log lines about the limit, want 1", len(entries))
			}
			got := entries[0].ContextMap()
			want := map[string]any{
				"event_id": "1700000000000-0", "stix_id": "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad",
				"indicator_id": "cee1aad9-81a9-4e38-a829-a06b56b29338", "observables": tt.observables,
				"observables_exact": true, "indexed": int64(pattern.MaxObservables), "limit": int64(pattern.MaxObservables),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("log fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfidence(t *testing.T) {
	for in, want := range map[any]string{nil: "Not Specified", float64(0): "None", float64(1): "Low", float64(29): "Low", float64(30): "Medium", float64(69): "Medium", float64(70): "High", float64(100): "High", "x": "Not Specified"} {
		if got := Confidence(in); got != want {
			t.Errorf("Confidence(%v) = %s, want %s", in, got, want)
		}
	}
}

func mustMap(t *testing.T, m *Mapper, ev event.Event) []mapping.Doc {
	t.Helper()
	docs, err := m.Map(ev)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func mustObject(m map[string]any) stix.Object {
	o, err := stix.FromMap(m)
	if err != nil {
		panic(err)
	}
	return o
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range append(append([]string(nil), a...), b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func renamed(ids []string, from, to string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.Replace(id, from, to, 1)
	}
	return out
}

// TestBundlesMap maps every indicator of the STIX bundles the pattern
// parser is tested with (OpenCTI's and OASIS' fixtures): all of them map,
// and every document passes the ECS 9.4 check.
func TestBundlesMap(t *testing.T) {
	files, _ := filepath.Glob("../../stix/pattern/testdata/bundles/*/*.json")
	if len(files) == 0 {
		t.Fatal("no bundles found")
	}
	m := New(DefaultConfig(), "https://opencti.example.com", clock)
	total := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range bundleObjects(t, raw) {
			if obj["type"] != "indicator" {
				continue
			}
			delete(obj, "valid_until") // the fixtures' indicators are long expired
			delete(obj, "revoked")
			o, err := stix.FromMap(obj)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			docs, err := m.Map(event.Event{Kind: event.Create, Object: o})
			if err != nil {
				t.Errorf("%s: %s: %v", filepath.Base(f), o.ID, err)
				continue
			}
			if len(docs) == 0 {
				t.Errorf("%s: %s: no document", filepath.Base(f), o.ID)
			}
			for _, d := range docs {
				if problems := ecsfields.Check(d.Fields); len(problems) > 0 {
					t.Errorf("%s: %s: %v", filepath.Base(f), d.ID, problems)
				}
			}
			if err := checkPlain(docs); err != nil {
				t.Errorf("%s: %s: %v", filepath.Base(f), o.ID, err)
			}
			total++
		}
	}
	if total < 40 {
		t.Fatalf("only %d indicators mapped", total)
	}
}

// TestGoldenDocsAreECS: every golden document passes the ECS check.
func TestGoldenDocsAreECS(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.json")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var docs []goldenDoc
		if err := json.Unmarshal(raw, &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if problems := ecsfields.Check(d.Fields); len(problems) > 0 {
				t.Errorf("%s: %s: %v", f, d.ID, problems)
			}
		}
	}
}

// bundleObjects returns the objects of a bundle, a list, or one object.
func bundleObjects(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var b struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(raw, &b); err == nil && len(b.Objects) > 0 {
		return b.Objects
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err == nil {
		return list
	}
	var one map[string]any
	if err := json.Unmarshal(raw, &one); err == nil {
		return []map[string]any{one}
	}
	t.Fatalf("unreadable fixture")
	return nil
}
