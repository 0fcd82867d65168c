// Package engine gives tests the URL of the real search engine (OpenSearch
// 2.5.0, the Elasticsearch 7.10 API) started by scripts/opensearch.sh, and a
// few helpers to look at what was written there, talking to the engine
// directly (no proxy, no Elastic client).
//
// Start the engine and run the tests with:
//
//	url=$(scripts/opensearch.sh start) && trap 'scripts/opensearch.sh stop' EXIT
//	OPENCTIBEAT_OPENSEARCH_URL=$url OPENCTIBEAT_REQUIRE_ENGINE=1 go test -tags integration ./...
//
// The engine makes new documents searchable about once a second: call
// Refresh before Count or Search when checking what was just written.
package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// Environment variables read by URL.
const (
	EnvURL     = "OPENCTIBEAT_OPENSEARCH_URL"
	EnvRequire = "OPENCTIBEAT_REQUIRE_ENGINE"
)

const howToStart = "start it with: url=$(scripts/opensearch.sh start) && export " +
	EnvURL + "=$url (and scripts/opensearch.sh stop afterwards)"

var client = &http.Client{Timeout: 60 * time.Second}

// URL returns the engine's base URL (without a trailing slash) from
// OPENCTIBEAT_OPENSEARCH_URL. When it is unset, the test fails if
// OPENCTIBEAT_REQUIRE_ENGINE=1 and is skipped otherwise.
func URL(t testing.TB) string {
	t.Helper()
	u := strings.TrimRight(strings.TrimSpace(os.Getenv(EnvURL)), "/")
	if u == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s is not set but %s=1: this test needs the search engine; %s", EnvURL, EnvRequire, howToStart)
		}
		t.Skipf("%s is not set: skipping a test that needs the search engine; %s", EnvURL, howToStart)
	}
	if _, err := url.ParseRequestURI(u); err != nil {
		t.Fatalf("%s=%q is not a URL: %v", EnvURL, u, err)
	}
	return u
}

// Hit is one search hit.
type Hit struct {
	ID     string         `json:"_id"`
	Index  string         `json:"_index"` // the concrete index (a backing index for a data stream)
	Source map[string]any `json:"_source"`
}

// searchPage is the part of a search or scroll answer the helpers read.
type searchPage struct {
	ScrollID string `json:"_scroll_id"`
	Hits     struct {
		Hits []Hit `json:"hits"`
	} `json:"hits"`
}

// Refresh makes everything written to index (a name, pattern, alias or data
// stream) searchable. Missing indices are ignored.
func Refresh(t testing.TB, baseURL, index string) {
	t.Helper()
	status, body := do(t, http.MethodPost, baseURL, "/"+escIndex(index)+"/_refresh",
		url.Values{"ignore_unavailable": {"true"}, "allow_no_indices": {"true"}, "expand_wildcards": {"all"}}, "")
	if status != http.StatusOK {
		t.Fatalf("refresh %s: status %d: %s", index, status, body)
	}
}

// Count returns the number of searchable documents in index (0 when it does
// not exist). Call Refresh first to count what was just written.
func Count(t testing.TB, baseURL, index string) int {
	t.Helper()
	status, body := do(t, http.MethodGet, baseURL, "/"+escIndex(index)+"/_count",
		url.Values{"ignore_unavailable": {"true"}, "allow_no_indices": {"true"}}, "")
	if status != http.StatusOK {
		t.Fatalf("count %s: status %d: %s", index, status, body)
	}
	var res struct {
		Count *int `json:"count"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.Count == nil {
		t.Fatalf("count %s: unexpected answer (%v): %s", index, err, body)
	}
	return *res.Count
}

// Get returns the source of document id in index, and false when the
// document or the index does not exist. Get is real-time: no refresh needed.
// For a data stream, use Search with an ids query instead.
func Get(t testing.TB, baseURL, index, id string) (map[string]any, bool) {
	t.Helper()
	status, body := do(t, http.MethodGet, baseURL, "/"+escIndex(index)+"/_doc/"+url.PathEscape(id), nil, "")
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, false
	default:
		t.Fatalf("get %s/%s: status %d: %s", index, id, status, body)
	}
	var res struct {
		Found  bool           `json:"found"`
		Source map[string]any `json:"_source"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("get %s/%s: %v: %s", index, id, err, body)
	}
	if !res.Found {
		return nil, false
	}
	if res.Source == nil {
		res.Source = map[string]any{}
	}
	return res.Source, true
}

// Search runs a search request body (JSON; "" means match_all with size
// 10000) on index and returns the hits, in the engine's order. A missing
// index gives no hits. Call Refresh first to see what was just written.
func Search(t testing.TB, baseURL, index, body string) []Hit {
	t.Helper()
	if strings.TrimSpace(body) == "" {
		body = `{"size":10000,"query":{"match_all":{}}}`
	}
	status, resp := do(t, http.MethodPost, baseURL, "/"+escIndex(index)+"/_search",
		url.Values{"ignore_unavailable": {"true"}, "allow_no_indices": {"true"}}, body)
	if status != http.StatusOK {
		t.Fatalf("search %s: status %d: %s", index, status, resp)
	}
	var res searchPage
	if err := json.Unmarshal(resp, &res); err != nil {
		t.Fatalf("search %s: %v: %s", index, err, resp)
	}
	return append([]Hit{}, res.Hits.Hits...)
}

// DeleteIndex deletes the data streams and the indices matching pattern (a
// name or a wildcard pattern such as "openctibeat-*"). Nothing matching is
// not an error.
func DeleteIndex(t testing.TB, baseURL, pattern string) {
	t.Helper()
	if strings.TrimSpace(pattern) == "" || strings.Trim(pattern, "*,") == "" || pattern == "_all" {
		t.Fatalf("delete index: refusing pattern %q", pattern)
	}
	// Data streams first: their backing indices cannot be deleted directly.
	status, body := do(t, http.MethodDelete, baseURL, "/_data_stream/"+escIndex(pattern), nil, "")
	if status != http.StatusOK && status != http.StatusNotFound {
		t.Fatalf("delete data stream %s: status %d: %s", pattern, status, body)
	}
	status, body = do(t, http.MethodDelete, baseURL, "/"+escIndex(pattern),
		url.Values{"ignore_unavailable": {"true"}, "allow_no_indices": {"true"}, "expand_wildcards": {"open,closed"}}, "")
	if status != http.StatusOK {
		t.Fatalf("delete index %s: status %d: %s", pattern, status, body)
	}
}

// escIndex escapes an index name or pattern for a URL path, keeping the
// characters index expressions use (*, comma).
func escIndex(index string) string {
	if index == "" {
		return "_all"
	}
	parts := strings.Split(index, ",")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.PathEscape(p), "%2A", "*")
	}
	return strings.Join(parts, ",")
}

// do sends one request. A 503 (a shard of a just-created index not yet
// allocated: "all shards failed") is retried for up to 30 s.
func do(t testing.TB, method, baseURL, path string, query url.Values, body string) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, b := doOnce(t, method, baseURL, path, query, body)
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return status, b
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func doOnce(t testing.TB, method, baseURL, path string, query url.Values, body string) (int, []byte) {
	t.Helper()
	status, b, err := Request(method, baseURL, path, query, body)
	if err != nil {
		t.Fatalf("engine: %v (is the engine running? %s)", err, howToStart)
	}
	return status, b
}

// Request sends one JSON request to the engine and returns the status and
// the body of the answer.
func Request(method, baseURL, path string, query url.Values, body string) (int, []byte, error) {
	u := strings.TrimRight(baseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: reading the answer: %w", method, u, err)
	}
	return resp.StatusCode, b, nil
}

// String returns a short description of the hit, for test messages.
func (h Hit) String() string {
	return fmt.Sprintf("%s/%s %v", h.Index, h.ID, h.Source)
}

// All returns every document of index, however many (a search returns at
// most 10,000 hits: this pages with the scroll API).
func All(t testing.TB, baseURL, index string) []Hit {
	t.Helper()
	status, resp := do(t, http.MethodPost, baseURL, "/"+escIndex(index)+"/_search",
		url.Values{"scroll": {"1m"}, "ignore_unavailable": {"true"}, "allow_no_indices": {"true"}},
		`{"size":5000,"sort":["_doc"],"query":{"match_all":{}}}`)
	var out []Hit
	for {
		if status != http.StatusOK {
			t.Fatalf("scroll %s: status %d: %s", index, status, resp)
		}
		var p searchPage
		if err := json.Unmarshal(resp, &p); err != nil {
			t.Fatalf("scroll %s: %v", index, err)
		}
		out = append(out, p.Hits.Hits...)
		if len(p.Hits.Hits) == 0 || p.ScrollID == "" {
			if p.ScrollID != "" {
				do(t, http.MethodDelete, baseURL, "/_search/scroll", nil, `{"scroll_id":"`+p.ScrollID+`"}`)
			}
			return out
		}
		status, resp = do(t, http.MethodPost, baseURL, "/_search/scroll", nil, `{"scroll":"1m","scroll_id":"`+p.ScrollID+`"}`)
	}
}
