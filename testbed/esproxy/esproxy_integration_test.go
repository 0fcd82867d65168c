//go:build integration

package esproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	"github.com/elastic/beats/v7/libbeat/licenser"
	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/go-elasticsearch/v8"

	"github.com/openctibeat/openctibeat/testbed/engine"
)

// Run with the engine started by scripts/opensearch.sh:
//
//	url=$(scripts/opensearch.sh start)
//	OPENCTIBEAT_OPENSEARCH_URL=$url OPENCTIBEAT_REQUIRE_ENGINE=1 go test -tags integration ./testbed/esproxy/
//	scripts/opensearch.sh stop

func TestIntegrationGoElasticsearch(t *testing.T) {
	base := engine.URL(t) // skips, or fails when OPENCTIBEAT_REQUIRE_ENGINE=1, without an engine
	p := startProxy(t, base)

	index := fmt.Sprintf("esproxy-it-%d", time.Now().UnixNano())
	engine.DeleteIndex(t, base, index)
	t.Cleanup(func() { engine.DeleteIndex(t, base, index) })

	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{p.URL()}})
	if err != nil {
		t.Fatal(err)
	}

	res, err := es.Info()
	if err != nil {
		t.Fatalf("Info through the proxy: %v", err)
	}
	raw := decode(t, res.Body, res.StatusCode, http.StatusOK)
	if v, _ := raw["version"].(map[string]any); v == nil || v["number"] != "7.10.2" || v["build_flavor"] != "default" {
		t.Errorf("Info version = %v", raw["version"])
	}

	res, err = es.Index(index, strings.NewReader(`{"name":"APT-TEST","x_opencti_score":80}`),
		es.Index.WithDocumentID("indicator--1"), es.Index.WithRefresh("wait_for"))
	if err != nil {
		t.Fatalf("Index: %v", err)
	}
	doc := decode(t, res.Body, res.StatusCode, http.StatusCreated)
	if doc["result"] != "created" || doc["_id"] != "indicator--1" {
		t.Errorf("Index answer = %v", doc)
	}

	res, err = es.Count(es.Count.WithIndex(index))
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	cnt := decode(t, res.Body, res.StatusCode, http.StatusOK)
	if cnt["count"] != 1.0 {
		t.Errorf("Count through the proxy = %v, want 1", cnt["count"])
	}

	// The raw-engine helpers see the same.
	if n := engine.Count(t, base, index); n != 1 {
		t.Errorf("engine.Count = %d, want 1", n)
	}
	src, ok := engine.Get(t, base, index, "indicator--1")
	if !ok || src["name"] != "APT-TEST" {
		t.Errorf("engine.Get = %v, %v", src, ok)
	}
	if _, ok := engine.Get(t, base, index, "nope"); ok {
		t.Error("engine.Get found a missing document")
	}
	if _, ok := engine.Get(t, base, index+"-missing", "x"); ok {
		t.Error("engine.Get found a document in a missing index")
	}
	hits := engine.Search(t, base, index, `{"query":{"range":{"x_opencti_score":{"gte":50}}}}`)
	if len(hits) != 1 || hits[0].ID != "indicator--1" || hits[0].Index != index {
		t.Errorf("engine.Search = %v", hits)
	}
	if n := engine.Count(t, base, index+"-missing"); n != 0 {
		t.Errorf("engine.Count on a missing index = %d", n)
	}
	if hits := engine.Search(t, base, index+"-missing", ""); len(hits) != 0 {
		t.Errorf("engine.Search on a missing index = %v", hits)
	}
}

// TestIntegrationLibbeat connects the way libbeat's Elasticsearch output
// does (GET /, then the licence check), then bulk-creates events into a data
// stream as the output does.
func TestIntegrationLibbeat(t *testing.T) {
	base := engine.URL(t)
	p := startProxy(t, base)

	suffix := time.Now().UnixNano()
	stream := fmt.Sprintf("logs-esproxy.it-%d", suffix)
	tmpl := fmt.Sprintf("esproxy-it-%d", suffix)
	engine.DeleteIndex(t, base, stream)
	t.Cleanup(func() {
		engine.DeleteIndex(t, base, stream)
		req, _ := http.NewRequest(http.MethodDelete, base+"/_index_template/"+tmpl, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})

	log := logp.NewNopLogger()
	conn, err := eslegclient.NewConnection(eslegclient.ConnectionSettings{URL: p.URL()}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conn.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if err := licenser.FetchAndVerify(conn, log); err != nil {
		t.Fatalf("licence check: %v", err)
	}

	// A data stream template, as libbeat loads one (PUT /_index_template).
	body := map[string]any{
		"index_patterns": []string{stream + "*"},
		"data_stream":    map[string]any{},
		"priority":       500,
		"template": map[string]any{
			"settings": map[string]any{"index": map[string]any{"number_of_replicas": 0}},
			"mappings": map[string]any{"properties": map[string]any{
				"@timestamp": map[string]any{"type": "date"},
				"name":       map[string]any{"type": "keyword"},
			}},
		},
	}
	if b, err := conn.LoadJSON("/_index_template/"+tmpl, body); err != nil {
		t.Fatalf("template: %v: %s", err, b)
	}

	now := time.Now().UTC().Format(time.RFC3339Nano)
	events := []any{
		eslegclient.BulkCreateAction{Create: eslegclient.BulkMeta{Index: stream}},
		map[string]any{"@timestamp": now, "name": "one"},
		eslegclient.BulkCreateAction{Create: eslegclient.BulkMeta{Index: stream, ID: "fixed-id"}},
		map[string]any{"@timestamp": now, "name": "two"},
		eslegclient.BulkCreateAction{Create: eslegclient.BulkMeta{Index: stream, ID: "fixed-id"}},
		map[string]any{"@timestamp": now, "name": "duplicate"},
	}
	status, resp, err := conn.Bulk(ctx, "", "", nil, nil, events)
	if err != nil || status != http.StatusOK {
		t.Fatalf("Bulk: status %d, err %v: %s", status, err, resp)
	}
	var br struct {
		Errors bool
		Items  []map[string]struct {
			Status int
			Error  struct{ Type string }
		}
	}
	if err := json.Unmarshal(resp, &br); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, it := range br.Items {
		statuses = append(statuses, fmt.Sprintf("%d %s", it["create"].Status, it["create"].Error.Type))
	}
	want := "201 ,201 ,409 version_conflict_engine_exception"
	if !br.Errors || strings.Join(statuses, ",") != want {
		t.Errorf("bulk items = %q (errors=%v), want %q", statuses, br.Errors, want)
	}

	engine.Refresh(t, base, stream)
	if n := engine.Count(t, base, stream); n != 2 {
		t.Errorf("engine.Count(data stream) = %d, want 2", n)
	}
	hits := engine.Search(t, base, stream, `{"query":{"ids":{"values":["fixed-id"]}}}`)
	if len(hits) != 1 || hits[0].Source["name"] != "two" || !strings.HasPrefix(hits[0].Index, ".ds-"+stream) {
		t.Errorf("engine.Search = %v", hits)
	}

	engine.DeleteIndex(t, base, stream)
	if n := engine.Count(t, base, stream); n != 0 {
		t.Errorf("after DeleteIndex, count = %d", n)
	}
	// A pattern that matches nothing is fine.
	engine.DeleteIndex(t, base, fmt.Sprintf("esproxy-it-nothing-%d-*", suffix))
}

func decode(t *testing.T, body io.ReadCloser, status, want int) map[string]any {
	t.Helper()
	defer body.Close()
	var m map[string]any
	if err := json.NewDecoder(body).Decode(&m); err != nil {
		t.Fatalf("decoding the answer (status %d): %v", status, err)
	}
	if status != want {
		t.Fatalf("status %d, want %d: %v", status, want, m)
	}
	return m
}
