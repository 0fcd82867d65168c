package esindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/idxmgmt"
	"github.com/elastic/beats/v7/libbeat/template"
	"github.com/elastic/elastic-agent-libs/logp/logptest"
)

func TestFieldsYMLIsMetaCopy(t *testing.T) {
	meta, err := os.ReadFile("../_meta/fields.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(meta, fieldsYML) {
		t.Fatal("esindex/fields.yml differs from _meta/fields.yml: run `go generate ./esindex`")
	}
}

// body returns the template as the engine receives it: JSON, decoded.
func body(t *testing.T, tm Template) map[string]any {
	t.Helper()
	b, err := json.Marshal(tm.Body())
	if err != nil {
		t.Fatalf("template %s is not JSON: %v", tm.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// property returns the mapping of a dotted field in a template body, and
// false when absent.
func property(b map[string]any, field string) (map[string]any, bool) {
	cur, _ := b["template"].(map[string]any)["mappings"].(map[string]any)
	for _, name := range strings.Split(field, ".") {
		props, ok := cur["properties"].(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = props[name].(map[string]any); !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestECS(t *testing.T) {
	tm := ECS(ECSTemplateName, ECSPattern)
	b := body(t, tm)
	want := map[string]any{
		"index_patterns": []any{"logs-ti_openctibeat.indicator-*"},
		"priority":       float64(250),
		"_meta":          map[string]any{"managed_by": "openctibeat"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, b[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if _, ok := b["data_stream"]; ok {
		t.Error("the template declares a data stream: documents could not be replaced or deleted by id")
	}
	if tm.Name != "logs-ti_openctibeat.indicator" {
		t.Errorf("name %q", tm.Name)
	}
	tb := b["template"].(map[string]any)
	if diff := cmp.Diff(map[string]any{"index": map[string]any{
		"number_of_shards": float64(1), "mapping.ignore_malformed": true,
	}}, tb["settings"]); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	mp := tb["mappings"].(map[string]any)
	if mp["dynamic"] != false || mp["date_detection"] != false {
		t.Errorf("dynamic %v, date_detection %v: want false, false", mp["dynamic"], mp["date_detection"])
	}

	tests := []struct {
		field string
		want  map[string]any
	}{
		{"@timestamp", map[string]any{"type": "date"}},
		{"tags", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"event.kind", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"event.category", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"event.module", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.feed.name", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.ip", map[string]any{"type": "ip"}},
		{"threat.indicator.port", map[string]any{"type": "long"}},
		{"threat.indicator.confidence", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.id", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.first_seen", map[string]any{"type": "date"}},
		{"threat.indicator.modified_at", map[string]any{"type": "date"}},
		{"threat.indicator.marking.tlp_version", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.email.address", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.url.full", map[string]any{"type": "wildcard", "fields": map[string]any{"text": map[string]any{"type": "match_only_text"}}}},
		{"threat.indicator.url.original", map[string]any{"type": "wildcard", "fields": map[string]any{"text": map[string]any{"type": "match_only_text"}}}},
		{"threat.indicator.url.path", map[string]any{"type": "wildcard"}},
		{"threat.indicator.url.query", map[string]any{"type": "keyword", "ignore_above": float64(2083)}},
		{"threat.indicator.url.port", map[string]any{"type": "long"}},
		{"threat.indicator.file.hash.sha256", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.file.hash.tlsh", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.file.size", map[string]any{"type": "long"}},
		{"threat.indicator.file.path", map[string]any{"type": "keyword", "ignore_above": float64(1024), "fields": map[string]any{"text": map[string]any{"type": "match_only_text"}}}},
		{"threat.indicator.registry.path", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"threat.indicator.registry.data.strings", map[string]any{"type": "wildcard"}},
		{"threat.indicator.as.number", map[string]any{"type": "long"}},
		{"threat.indicator.as.organization.name", map[string]any{"type": "keyword", "ignore_above": float64(1024), "fields": map[string]any{"text": map[string]any{"type": "match_only_text"}}}},
		{"threat.indicator.x509.not_after", map[string]any{"type": "date"}},
		{"threat.indicator.x509.alternative_names", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"opencti.indicator.id", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"opencti.indicator.name", map[string]any{"type": "keyword", "ignore_above": float64(1024), "fields": map[string]any{"text": map[string]any{"type": "text", "norms": false}}}},
		{"opencti.indicator.pattern", map[string]any{"type": "keyword", "ignore_above": float64(8191), "fields": map[string]any{"text": map[string]any{"type": "text", "norms": false}}}},
		{"opencti.indicator.score", map[string]any{"type": "long"}},
		{"opencti.indicator.detection", map[string]any{"type": "boolean"}},
		{"opencti.indicator.revoked", map[string]any{"type": "boolean"}},
		{"opencti.indicator.valid_until", map[string]any{"type": "date"}},
		{"opencti.indicator.kill_chain_phases.phase_name", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"opencti.observable.value", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"opencti.observable.ip_range", map[string]any{"type": "ip_range"}},
		{"opencti.observable.values", map[string]any{"type": "object", "enabled": false}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			got, ok := property(b, tt.field)
			if !ok {
				t.Fatalf("%s is not mapped", tt.field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mapping of %s (-want +got):\n%s", tt.field, diff)
			}
		})
	}
}

// types returns every field type of a template body, with the path of its
// first field.
func types(v any, path string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		if t, ok := v["type"].(string); ok {
			if _, seen := out[t]; !seen {
				out[t] = path
			}
		}
		for k, e := range v {
			types(e, path+"/"+k, out)
		}
	case []any:
		for _, e := range v {
			types(e, path, out)
		}
	}
}

func TestECSFallback(t *testing.T) {
	tm := ECS(ECSTemplateName, ECSPattern)
	if tm.Fallback == nil {
		t.Fatal("no fallback")
	}
	if tm.Fallback.Fallback != nil {
		t.Error("the fallback has a fallback")
	}
	main, fb := body(t, tm), body(t, *tm.Fallback)
	got := map[string]string{}
	types(fb, "", got)
	for typ := range fallbackTypes {
		if p, ok := got[typ]; ok {
			t.Errorf("the fallback still has type %s (%s)", typ, p)
		}
	}
	mainTypes := map[string]string{}
	types(main, "", mainTypes)
	if _, ok := mainTypes["wildcard"]; !ok {
		t.Error("the main variant has no wildcard field: the fallback tests nothing")
	}
	for _, k := range []string{"index_patterns", "priority", "_meta"} {
		if diff := cmp.Diff(main[k], fb[k]); diff != "" {
			t.Errorf("%s differs between the variants:\n%s", k, diff)
		}
	}
	if tm.Fallback.Name != tm.Name {
		t.Errorf("fallback name %q, want %q", tm.Fallback.Name, tm.Name)
	}

	tests := []struct {
		field string
		want  map[string]any
	}{
		{"threat.indicator.url.full", map[string]any{"type": "keyword", "ignore_above": float64(8191), "fields": map[string]any{"text": map[string]any{"type": "text", "norms": false}}}},
		{"threat.indicator.url.path", map[string]any{"type": "keyword", "ignore_above": float64(8191)}},
		{"threat.indicator.registry.data.strings", map[string]any{"type": "keyword", "ignore_above": float64(8191)}},
		{"threat.indicator.file.path", map[string]any{"type": "keyword", "ignore_above": float64(1024), "fields": map[string]any{"text": map[string]any{"type": "text", "norms": false}}}},
		{"threat.indicator.ip", map[string]any{"type": "ip"}},
		{"threat.indicator.type", map[string]any{"type": "keyword", "ignore_above": float64(1024)}},
		{"opencti.observable.values", map[string]any{"type": "object", "enabled": false}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			got, ok := property(fb, tt.field)
			if !ok {
				t.Fatalf("%s is not mapped", tt.field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fallback mapping of %s (-want +got):\n%s", tt.field, diff)
			}
		})
	}
	if got, _ := property(main, "threat.indicator.url.full"); got["type"] != "wildcard" {
		t.Errorf("building the fallback changed the main variant: url.full is %v", got)
	}
}

func TestFallback(t *testing.T) {
	in := map[string]any{
		"dynamic_templates": []any{
			map[string]any{"labels": map[string]any{"path_match": "labels.*", "mapping": map[string]any{"type": "constant_keyword"}}},
		},
		"properties": map[string]any{
			// A property named "type" is not a field type.
			"type": map[string]any{"type": "constant_keyword", "value": "x"},
			"blob": map[string]any{"type": "flattened", "depth_limit": 5},
			"msg":  map[string]any{"type": "match_only_text", "fields": map[string]any{"raw": map[string]any{"type": "wildcard"}}},
			"n":    map[string]any{"type": "long"},
		},
	}
	want := map[string]any{
		"dynamic_templates": []any{
			map[string]any{"labels": map[string]any{"path_match": "labels.*", "mapping": map[string]any{"type": "keyword", "ignore_above": 1024}}},
		},
		"properties": map[string]any{
			"type": map[string]any{"type": "keyword", "ignore_above": 1024},
			"blob": map[string]any{"type": "object", "enabled": false},
			"msg":  map[string]any{"type": "text", "norms": false, "fields": map[string]any{"raw": map[string]any{"type": "keyword", "ignore_above": 8191}}},
			"n":    map[string]any{"type": "long"},
		},
	}
	if diff := cmp.Diff(want, fallback(in)); diff != "" {
		t.Errorf("fallback (-want +got):\n%s", diff)
	}
	if in["properties"].(map[string]any)["blob"].(map[string]any)["type"] != "flattened" {
		t.Error("fallback modified its input")
	}
}

// fakeLoader records the templates it is asked to load and rejects those
// whose body contains reject.
type fakeLoader struct {
	idxmgmt.ClientHandler
	reject string
	loaded []string // "<name> <variant>"
	bodies []string
}

func (f *fakeLoader) Load(cfg template.TemplateConfig, _ beat.Info, _ []byte, _ bool) error {
	b, err := os.ReadFile(cfg.JSON.Path)
	if err != nil {
		return err
	}
	f.bodies = append(f.bodies, string(b))
	var body struct {
		Template struct {
			Mappings struct {
				Meta struct {
					Variant string `json:"variant"`
				} `json:"_meta"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return err
	}
	f.loaded = append(f.loaded, cfg.Name+" "+body.Template.Mappings.Meta.Variant)
	if f.reject != "" && strings.Contains(string(b), f.reject) {
		return errors.New(`couldn't load template: 400 Bad Request: {"error":{"type":"mapper_parsing_exception","reason":"No handler for type [wildcard] declared on field [full]"}}`)
	}
	return nil
}

func TestLoadFallback(t *testing.T) {
	tests := []struct {
		name    string
		reject  string
		want    []string
		wantErr bool
		wantLog bool
	}{
		{name: "main accepted", want: []string{"t main"}},
		{name: "main rejected", reject: `"wildcard"`, want: []string{"t main", "t fallback"}, wantLog: true},
		{name: "both rejected", reject: `"type"`, want: []string{"t main", "t fallback"}, wantErr: true, wantLog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := logptest.NewTestingLoggerWithObserver(t, "")
			fake := &fakeLoader{reject: tt.reject}
			m := &manager{s: &support{log: log}, client: fake}
			err := m.load(ECS("t", "t-*"), false)
			if (err != nil) != tt.wantErr {
				t.Fatalf("load: %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, fake.loaded); diff != "" {
				t.Errorf("loads (-want +got):\n%s", diff)
			}
			entries := logs.FilterMessageSnippet("loading its fallback variant").All()
			if got := len(entries) == 1; got != tt.wantLog {
				t.Fatalf("fallback log lines: %v", entries)
			}
			if tt.wantLog && entries[0].ContextMap()["template"] != "t" {
				t.Errorf("log line does not name the template: %v", entries[0].ContextMap())
			}
		})
	}
}
