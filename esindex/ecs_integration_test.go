//go:build integration

package esindex_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	"github.com/elastic/beats/v7/libbeat/idxmgmt"
	"github.com/elastic/beats/v7/libbeat/idxmgmt/lifecycle"
	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/paths"
	"go.uber.org/zap"

	"github.com/openctibeat/openctibeat/esindex"
	"github.com/openctibeat/openctibeat/testbed/ecsfields"
	"github.com/openctibeat/openctibeat/testbed/engine"
)

// Run with the engine started by scripts/opensearch.sh:
//
//	url=$(scripts/opensearch.sh start)
//	OPENCTIBEAT_OPENSEARCH_URL=$url OPENCTIBEAT_REQUIRE_ENGINE=1 go test -tags integration ./esindex/
//	scripts/opensearch.sh stop

// sampleDocs are ecs mode documents: an address, a CIDR block, a URL.
var sampleDocs = map[string]string{
	"ip": `{
  "@timestamp": "2024-05-01T10:00:00.000Z",
  "tags": ["osint"],
  "event": {"kind": "enrichment", "category": ["threat"], "type": ["indicator"],
            "module": "ti_openctibeat", "dataset": "ti_openctibeat.indicator"},
  "threat": {
    "feed": {"name": "OpenCTI", "reference": "https://opencti.example.com"},
    "indicator": {
      "type": "ipv4-addr", "name": "198.51.100.7", "confidence": "High",
      "first_seen": "2024-04-01T00:00:00.000Z", "modified_at": "2024-04-02T00:00:00.000Z",
      "id": ["cee1aad9-81a9-4e38-a829-a06b56b29338", "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"],
      "marking": {"tlp": "GREEN", "tlp_version": "2.0"},
      "ip": "198.51.100.7"
    }
  },
  "opencti": {
    "indicator": {"id": "cee1aad9-81a9-4e38-a829-a06b56b29338", "pattern": "[ipv4-addr:value = '198.51.100.7']",
                  "score": 80, "detection": true, "revoked": false, "valid_from": "2024-04-01T00:00:00.000Z",
                  "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}]},
    "observable": {"type": "ipv4-addr", "value": "198.51.100.7", "values": {"value": "198.51.100.7"}}
  }
}`,
	"cidr": `{
  "@timestamp": "2024-05-01T10:00:00.000Z",
  "event": {"kind": "enrichment", "category": ["threat"], "type": ["indicator"], "module": "ti_openctibeat"},
  "threat": {"indicator": {"type": "ipv4-addr", "name": "203.0.113.0/24"}},
  "opencti": {"observable": {"type": "ipv4-addr", "value": "203.0.113.0/24", "ip_range": "203.0.113.0/24"}}
}`,
	"url": `{
  "@timestamp": "2024-05-01T10:00:00.000Z",
  "event": {"kind": "enrichment", "category": ["threat"], "type": ["indicator"], "module": "ti_openctibeat"},
  "threat": {"indicator": {"type": "url", "url": {"full": "http://evil.example/a/b?c=d", "original": "http://evil.example/a/b?c=d",
    "domain": "evil.example", "scheme": "http", "path": "/a/b", "query": "c=d"}}},
  "x_not_declared": {"kept": "in _source only"}
}`,
}

func TestIntegrationECSTemplateVariants(t *testing.T) {
	base := engine.URL(t)
	suffix := time.Now().UnixNano()
	name := fmt.Sprintf("logs-ti_openctibeat_itest%d.indicator", suffix)
	index := name + "-default"
	cleanup(t, base, name, index)

	tm := esindex.ECS(name, name+"-*")
	opensearch := isOpenSearch(t, base)

	status, resp := call(t, http.MethodPut, base+"/_index_template/"+name, tm.Body())
	switch {
	case opensearch && status != http.StatusBadRequest:
		t.Fatalf("OpenSearch accepted the main variant (status %d): %s", status, resp)
	case opensearch && !strings.Contains(resp, "No handler for type [wildcard]") && !strings.Contains(resp, "no handler for type [match_only_text]"):
		t.Fatalf("OpenSearch rejected the main variant for another reason: %s", resp)
	case !opensearch && status != http.StatusOK:
		t.Fatalf("Elasticsearch rejected the main variant (status %d): %s", status, resp)
	}
	t.Logf("main variant: status %d", status)

	if status, resp := call(t, http.MethodPut, base+"/_index_template/"+name, tm.Fallback.Body()); status != http.StatusOK {
		t.Fatalf("the engine rejected the fallback variant (status %d): %s", status, resp)
	}

	for id, src := range sampleDocs {
		var doc map[string]any
		if err := json.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		if id != "url" { // the url document carries an undeclared field on purpose
			if problems := ecsfields.Check(doc); len(problems) > 0 {
				t.Fatalf("sample %s: %s", id, strings.Join(problems, "; "))
			}
		}
		if status, resp := call(t, http.MethodPut, base+"/"+index+"/_doc/"+id+"?refresh=true", doc); status != http.StatusCreated {
			t.Fatalf("index %s: status %d: %s", id, status, resp)
		}
	}

	// A plain index (no data stream), with the template's mapping.
	status, resp = call(t, http.MethodGet, base+"/"+index+"/_mapping", nil)
	if status != http.StatusOK {
		t.Fatalf("GET _mapping: status %d: %s", status, resp)
	}
	var mappings map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(resp), &mappings); err != nil {
		t.Fatal(err)
	}
	m, ok := mappings[index]
	if !ok {
		t.Fatalf("no mapping for %s (a data stream?): %s", index, resp)
	}
	for field, want := range map[string]string{
		"threat.indicator.ip":          "ip",
		"threat.indicator.url.full":    "keyword", // the fallback's wildcard
		"threat.indicator.first_seen":  "date",
		"threat.indicator.confidence":  "keyword",
		"opencti.observable.ip_range":  "ip_range",
		"opencti.indicator.score":      "long",
		"opencti.indicator.detection":  "boolean",
		"opencti.indicator.valid_from": "date",
		"opencti.observable.values":    "object",
	} {
		if got := typeOf(m.Mappings, field); got != want {
			t.Errorf("%s is mapped as %q, want %q", field, got, want)
		}
	}
	for _, field := range []string{"x_not_declared", "x_not_declared.kept", "opencti.observable.values.value"} {
		if got := typeOf(m.Mappings, field); got != "" {
			t.Errorf("%s was mapped (%q) although dynamic is false", field, got)
		}
	}
	if src, ok := engine.Get(t, base, index, "url"); !ok || src["x_not_declared"] == nil {
		t.Errorf("an undeclared field is not kept in _source: %v", src)
	}

	// The fields are searchable as typed.
	for _, q := range []struct{ name, query, want string }{
		{"ip term", `{"term": {"threat.indicator.ip": "198.51.100.7"}}`, "ip"},
		{"ip range contains an address", `{"term": {"opencti.observable.ip_range": "203.0.113.9"}}`, "cidr"},
		{"url exists", `{"exists": {"field": "threat.indicator.url.full"}}`, "url"},
		{"url words", `{"match": {"threat.indicator.url.full.text": "evil.example"}}`, "url"},
		{"pattern words", `{"match": {"opencti.indicator.pattern.text": "198.51.100.7"}}`, "ip"},
		{"kill chain phase", `{"term": {"opencti.indicator.kill_chain_phases.phase_name": "command-and-control"}}`, "ip"},
		{"date range", `{"range": {"@timestamp": {"gte": "2024-05-01T00:00:00Z"}}}`, ""},
		{"unindexed field", `{"term": {"x_not_declared.kept": "in _source only"}}`, "-"},
	} {
		hits := engine.Search(t, base, index, `{"query": `+q.query+`}`)
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.ID)
		}
		switch q.want {
		case "":
			if len(ids) != len(sampleDocs) {
				t.Errorf("%s: hits %v, want all", q.name, ids)
			}
		case "-":
			if len(ids) != 0 {
				t.Errorf("%s: hits %v, want none", q.name, ids)
			}
		default:
			if len(ids) != 1 || ids[0] != q.want {
				t.Errorf("%s: hits %v, want [%s]", q.name, ids, q.want)
			}
		}
	}
}

// TestIntegrationECSTemplateSetup loads the template through libbeat's
// loader, as `setup` and each output connection do: on OpenSearch the main
// variant is rejected and the fallback installed.
func TestIntegrationECSTemplateSetup(t *testing.T) {
	base := engine.URL(t)
	name := fmt.Sprintf("logs-ti_openctibeat_isetup%d.indicator", time.Now().UnixNano())
	cleanup(t, base, name, name+"-default")

	log, logs := logptest.NewTestingLoggerWithObserver(t, "")
	info := beat.Info{Beat: "openctibeat", IndexPrefix: "openctibeat", Version: "9.4.0", Logger: log}
	conn, err := eslegclient.NewConnection(eslegclient.ConnectionSettings{URL: base}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conn.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	handler, err := idxmgmt.NewESClientHandler(conn, info, paths.New(), lifecycle.RawConfig{})
	if err != nil {
		t.Fatal(err)
	}
	factory := esindex.SupportFactory(func(*conf.C) ([]esindex.Template, error) {
		return []esindex.Template{esindex.ECS(name, name+"-*")}, nil
	})
	sup, err := factory(log, info, conf.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Manager(handler, nil).Setup(idxmgmt.LoadModeEnabled, idxmgmt.LoadModeDisabled); err != nil {
		t.Fatalf("setup: %v", err)
	}

	status, resp := call(t, http.MethodGet, base+"/_index_template/"+name, nil)
	if status != http.StatusOK {
		t.Fatalf("GET _index_template: status %d: %s", status, resp)
	}
	want := "main"
	if isOpenSearch(t, base) {
		want = "fallback"
	}
	if !strings.Contains(resp, `"variant":"`+want+`"`) {
		t.Errorf("installed template is not the %s variant: %s", want, resp)
	}
	const fallbackLine = "loading its fallback variant"
	fallbackLogs := logs.FilterMessageSnippet(fallbackLine).FilterField(zap.String("template", name)).Len()
	if (want == "fallback") != (fallbackLogs == 1) {
		t.Errorf("%d info lines about the fallback, want one when it is loaded", fallbackLogs)
	}

	// A second connection finds the template and leaves it.
	if err := sup.Manager(handler, nil).Setup(idxmgmt.LoadModeEnabled, idxmgmt.LoadModeDisabled); err != nil {
		t.Fatalf("second setup: %v", err)
	}
	if n := logs.FilterMessageSnippet(fallbackLine).Len(); n != fallbackLogs {
		t.Errorf("the second setup tried the main variant again (%d fallback lines)", n)
	}
}

func isOpenSearch(t *testing.T, base string) bool {
	t.Helper()
	status, resp := call(t, http.MethodGet, base+"/", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /: status %d: %s", status, resp)
	}
	var root struct {
		Tagline string `json:"tagline"`
		Version struct {
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if err := json.Unmarshal([]byte(resp), &root); err != nil {
		t.Fatal(err)
	}
	return root.Version.Distribution == "opensearch" || strings.Contains(root.Tagline, "OpenSearch")
}

func cleanup(t *testing.T, base, template, index string) {
	t.Helper()
	del := func() {
		engine.DeleteIndex(t, base, index)
		call(t, http.MethodDelete, base+"/_index_template/"+template, nil)
	}
	del()
	t.Cleanup(del)
}

// typeOf returns the type of a dotted field in a mapping ("object" for an
// object with properties or enabled false), or "" when unmapped.
func typeOf(m map[string]any, field string) string {
	cur := m
	for _, name := range strings.Split(field, ".") {
		props, _ := cur["properties"].(map[string]any)
		next, ok := props[name].(map[string]any)
		if !ok {
			return ""
		}
		cur = next
	}
	if t, ok := cur["type"].(string); ok {
		return t
	}
	return "object"
}

func call(t *testing.T, method, url string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
