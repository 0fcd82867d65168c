//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/stix"
	"github.com/openctibeat/openctibeat/testbed/ecsfields"
	"github.com/openctibeat/openctibeat/testbed/engine"
	"github.com/openctibeat/openctibeat/testbed/rules"
)

// ecsIndicator is an indicator with pattern, number n and version v.
func ecsIndicator(n, v int, pat string, mut func(map[string]any)) map[string]any {
	o := object("indicator", n, v)
	o["pattern"] = pat
	o["valid_from"] = "2026-01-01T00:00:00.000Z"
	o["object_marking_refs"] = []any{"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"}
	if mut != nil {
		mut(o)
	}
	return o
}

// ecsState reads the ecs index: doc id -> source.
func ecsState(t *testing.T, esURL, index string) map[string]map[string]any {
	t.Helper()
	engine.Refresh(t, esURL, index)
	out := map[string]map[string]any{}
	for _, h := range engine.All(t, esURL, index) {
		out[h.ID] = h.Source
	}
	return out
}

func indicatorOf(id string) string { return strings.SplitN(id, ":", 2)[0] }

// byIndicator counts documents per OpenCTI internal id.
func byIndicator(state map[string]map[string]any) map[string]int {
	out := map[string]int{}
	for id := range state {
		out[indicatorOf(id)]++
	}
	return out
}

func get(doc map[string]any, path string) any {
	var cur any = doc
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// TestECSModeEndToEnd: creates of every common observable type,
// pattern-changing updates, revocation, expiry, merges and deletes end in
// exactly the expected documents; every field is ECS 9.4 or documented
// opencti.*; the five prebuilt indicator-match rules' threat queries select
// the documents of their types on the real engine, and not revoked or
// expired ones.
func TestECSModeEndToEnd(t *testing.T) {
	s := newScenario()
	internal := func(n int) string { return uuidOf(1, n) }
	soon := time.Now().Add(25 * time.Second).UTC().Format("2006-01-02T15:04:05.000Z")
	pats := map[int]string{
		1:  "[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.2']",
		2:  "[domain-name:value = 'evil.example.com']",
		3:  "[url:value = 'https://evil.example.com/a.php']",
		4:  "[email-addr:value = 'bad@evil.example.com']",
		5:  "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
		6:  "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software\\\\Run']",
		7:  "[ipv4-addr:value = '198.51.100.0/24']",
		8:  "[x509-certificate:serial_number = '01:02']",
		9:  "[mutex:name = 'evil']",
		10: "[ipv4-addr:value = '198.51.100.10']", // revoked later
		11: "[ipv4-addr:value = '198.51.100.11']", // expires in a few seconds
		12: "[ipv4-addr:value = '198.51.100.12']", // deleted
		13: "[ipv4-addr:value = '198.51.100.13']", // merged into 14
		14: "[ipv4-addr:value = '198.51.100.14']",
		15: "[ipv4-addr:value = '198.51.100.15']", // already expired
	}
	for n := 1; n <= 15; n++ {
		mut := func(map[string]any) {}
		switch n {
		case 11:
			mut = func(o map[string]any) { o["valid_until"] = soon }
		case 15:
			mut = func(o map[string]any) { o["valid_until"] = "2025-01-01T00:00:00.000Z" }
		}
		s.create(ecsIndicator(n, 1, pats[n], mut))
	}
	s.create(map[string]any{"type": "malware", "id": "malware--" + uuidOf(3, 1), "name": "ignored in ecs mode",
		"extensions": map[string]any{stix.OpenCTIExtension: map[string]any{"id": uuidOf(3, 1)}}})
	// A pattern-changing update: 198.51.100.2 goes, .3 comes.
	s.add("update", envelopeUpdate(ecsIndicator(1, 2, "[ipv4-addr:value = '198.51.100.1'] OR [ipv4-addr:value = '198.51.100.3']", nil), pats[1]))
	s.add("update", envelopeUpdate(ecsIndicator(10, 2, pats[10], func(o map[string]any) { o["revoked"] = true }), ""))
	s.delete(ecsIndicator(12, 1, pats[12], nil))
	s.merge(ecsIndicator(14, 2, pats[14], nil), ecsIndicator(13, 1, pats[13], nil))

	b := newBed(t, s.events)
	o := b.options()
	o.mode = "ecs"
	index := o.ecsIndex()
	t.Cleanup(func() { engine.DeleteIndex(t, b.esURL, index) })
	p := startBeat(t, t.TempDir(), o)
	waitPosition(t, p, s.lastID(), 60*time.Second)

	want := map[string]int{
		internal(1): 2, internal(2): 1, internal(3): 1, internal(4): 1, internal(5): 1, internal(6): 1,
		internal(7): 1, internal(8): 1, internal(9): 1, internal(11): 1, internal(14): 1,
	}
	var state map[string]map[string]any
	eventually(t, 30*time.Second, "the documents of the stream", func() bool {
		state = ecsState(t, b.esURL, index)
		return fmt.Sprint(byIndicator(state)) == fmt.Sprint(want)
	})
	for _, doc := range state {
		if doc["threat"].(map[string]any)["indicator"].(map[string]any)["ip"] == "198.51.100.2" {
			t.Error("the observable removed from the pattern is still indexed")
		}
	}

	// Every field is ECS 9.4 with a compatible type, or a documented opencti.* field.
	for id, doc := range state {
		if problems := ecsfields.Check(doc); len(problems) > 0 {
			t.Errorf("document %s: %v", id, problems)
		}
		for _, f := range []string{"event.kind", "event.module", "event.dataset", "threat.feed.name", "threat.indicator.confidence", "threat.indicator.marking.tlp", "@timestamp"} {
			if get(doc, f) == nil {
				t.Errorf("document %s lacks %s", id, f)
			}
		}
		if typ, _ := get(doc, "threat.indicator.type").(string); typ != "" && !contains(ecsfields.ExpectedValues("threat.indicator.type"), typ) {
			t.Errorf("document %s: threat.indicator.type %q is not an ECS expected value", id, typ)
		}
	}

	// The prebuilt rules' threat queries select the documents of their type.
	rs, err := rules.Load()
	if err != nil || len(rs) != 5 {
		t.Fatalf("rules: %d, %v", len(rs), err)
	}
	wantSelected := map[string][]string{
		"address":  {internal(1), internal(11), internal(14)},
		"email":    {internal(4)},
		"hash":     {internal(5)},
		"registry": {internal(6)},
		"url":      {internal(3)},
	}
	for _, r := range rs {
		key := ruleKey(r.Name)
		q, _ := json.Marshal(map[string]any{"size": 1000, "query": r.ThreatQueryDSL})
		var got []string
		for _, h := range engine.Search(t, b.esURL, index, string(q)) {
			got = append(got, indicatorOf(h.ID))
			for _, m := range r.Mappings {
				if v := get(h.Source, m.IndicatorField); v != nil {
					if _, multi := v.([]any); multi {
						t.Errorf("rule %s: %s of %s is multi-valued; indicator match would not match it", r.Name, m.IndicatorField, h.ID)
					}
				}
			}
		}
		got = dedupe(got)
		if strings.Join(got, ",") != strings.Join(dedupe(wantSelected[key]), ",") {
			t.Errorf("rule %q (%s) selects %v, want %v", r.Name, key, got, dedupe(wantSelected[key]))
		}
	}

	// Expiry: indicator 11's document disappears at valid_until with no
	// stream event.
	eventually(t, 60*time.Second, "the expired document to disappear", func() bool {
		return byIndicator(ecsState(t, b.esURL, index))[internal(11)] == 0
	})
	if at := time.Now(); at.Before(mustParse(t, soon)) {
		t.Fatalf("the document vanished before valid_until (%s < %s)", at, soon)
	}
}

func envelopeUpdate(o map[string]any, prevPattern string) string {
	rev := []any{}
	if prevPattern != "" {
		rev = append(rev, map[string]any{"op": "replace", "path": "/pattern", "value": prevPattern})
	}
	return octiEnvelope("update", o, map[string]any{"patch": []any{}, "reverse_patch": rev})
}

func ruleKey(name string) string {
	n := strings.ToLower(name)
	for _, k := range []string{"address", "email", "hash", "registry", "url"} {
		if strings.Contains(n, k) {
			return k
		}
	}
	return n
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestECSRefresh: a still-valid indicator whose document has grown old is
// given a new @timestamp, so the rules' 30-day look-back keeps seeing it.
func TestECSRefresh(t *testing.T) {
	s := newScenario()
	s.create(ecsIndicator(1, 1, "[ipv4-addr:value = '198.51.100.77']", nil))
	b := newBed(t, s.events)
	o := b.options()
	o.mode = "ecs"
	o.extra = "openctibeat.ecs.expiry.refresh_after: 1m\nopenctibeat.ecs.expiry.refresh_interval: 1s\n"
	index := o.ecsIndex()
	t.Cleanup(func() { engine.DeleteIndex(t, b.esURL, index) })
	p := startBeat(t, t.TempDir(), o)
	waitPosition(t, p, s.lastID(), 60*time.Second)
	var id string
	eventually(t, 30*time.Second, "the document", func() bool {
		for k := range ecsState(t, b.esURL, index) {
			id = k
		}
		return id != ""
	})
	old := time.Now().Add(-20 * 24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	if code, body := postJSON(t, b.esURL+"/"+index+"/_update/"+id+"?refresh=true", `{"doc":{"@timestamp":"`+old+`"}}`); code != 200 {
		t.Fatalf("ageing the document: %d %s", code, body)
	}
	eventually(t, 30*time.Second, "the refresh", func() bool {
		ts, _ := ecsState(t, b.esURL, index)[id]["@timestamp"].(string)
		tm, err := time.Parse(time.RFC3339Nano, ts)
		return err == nil && time.Since(tm) < time.Hour
	})
	if n := p.stats()["openctibeat.expiry.refreshed_total"]; n < 1 {
		t.Errorf("refreshed_total = %v", n)
	}
}
