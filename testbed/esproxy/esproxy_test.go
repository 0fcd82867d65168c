package esproxy

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	"github.com/elastic/beats/v7/libbeat/licenser"
	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/go-elasticsearch/v8"
)

// openSearchRoot is what OpenSearch 2.5.0 answers on GET / with
// compatibility.override_main_response_version: true.
const openSearchRoot = `{
  "name" : "openctibeat-test",
  "cluster_name" : "openctibeat-test",
  "cluster_uuid" : "m8RZstoYQyKQHenMP3cXkQ",
  "version" : {
    "number" : "7.10.2",
    "build_type" : "tar",
    "build_hash" : "b8a8b6c4d7fc7a7e32eb2cb68ecad8057a4636ad",
    "build_date" : "2023-01-18T23:48:48.981786100Z",
    "build_snapshot" : false,
    "lucene_version" : "9.4.2",
    "minimum_wire_compatibility_version" : "7.10.0",
    "minimum_index_compatibility_version" : "7.0.0"
  },
  "tagline" : "The OpenSearch Project: https://opensearch.org/"
}
`

type seenRequest struct {
	Method, Path, RawQuery, Body string
	Header                       http.Header
}

// fakeEngine is an upstream that records requests. GET / answers like
// OpenSearch (gzip-compressed when asked, as OpenSearch does); /_license,
// /_xpack and /_ilm answer 400 like OpenSearch; anything else echoes.
type fakeEngine struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	f := &fakeEngine{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Clone()})
		f.mu.Unlock()
		trimmed := strings.TrimSuffix(r.URL.Path, "/")
		switch {
		case r.URL.Path == "/" && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				_, _ = io.WriteString(zw, openSearchRoot)
				_ = zw.Close()
				return
			}
			_, _ = io.WriteString(w, openSearchRoot)
		case trimmed == "/_license", trimmed == "/_xpack", strings.HasPrefix(r.URL.Path, "/_ilm"):
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"engine should not see this"}`)
		case r.URL.Path == "/already-branded":
			w.Header().Set(ProductHeader, ProductValue)
			_, _ = io.WriteString(w, `{}`)
		default:
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			w.Header().Set("X-Upstream", "yes")
			status := http.StatusOK
			if r.URL.Path == "/missing/_doc/1" {
				status = http.StatusNotFound
			} else if r.Method == http.MethodPost || r.Method == http.MethodPut {
				status = http.StatusCreated
			}
			w.WriteHeader(status)
			if r.Method != http.MethodHead {
				_ = json.NewEncoder(w).Encode(map[string]string{
					"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
				})
			}
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEngine) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

func startProxy(t *testing.T, upstream string, opts ...Option) *Proxy {
	t.Helper()
	p, err := New(upstream, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func do(t *testing.T, method, u, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func checkProductHeader(t *testing.T, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Values(ProductHeader); len(got) != 1 || got[0] != ProductValue {
		t.Errorf("%s header = %q, want exactly [%q]", ProductHeader, got, ProductValue)
	}
}

func TestLicense(t *testing.T) {
	f := newFakeEngine(t)
	p := startProxy(t, f.URL)

	for _, path := range []string{"/_license", "/_license?human=false", "/_license/?accept_enterprise=true&local=true"} {
		resp, body := do(t, http.MethodGet, p.URL()+path, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
		}
		checkProductHeader(t, resp)
		var got struct {
			License map[string]any `json:"license"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
		want := map[string]any{
			"status": "active", "type": "basic", "uid": LicenseUID, "issuer": "elasticsearch",
			"issued_to": "opencti test", "max_nodes": 1000.0, "start_date_in_millis": -1.0,
			"issue_date": "2024-01-01T00:00:00.000Z", "issue_date_in_millis": 1704067200000.0,
		}
		for k, v := range want {
			if got.License[k] != v {
				t.Errorf("GET %s: license.%s = %v, want %v", path, k, got.License[k], v)
			}
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}

	// HEAD gets the headers without a body.
	resp, body := do(t, http.MethodHead, p.URL()+"/_license", "", nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("HEAD /_license: status %d, body %q", resp.StatusCode, body)
	}
	checkProductHeader(t, resp)

	// Other methods pass through.
	resp, _ = do(t, http.MethodPut, p.URL()+"/_license", `{}`, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT /_license: status %d, want the engine's 400", resp.StatusCode)
	}
}

// TestLibbeatAcceptsProxy drives libbeat's own Elasticsearch connection and
// licence check (what every beat runs when its output connects).
func TestLibbeatAcceptsProxy(t *testing.T) {
	f := newFakeEngine(t)
	p := startProxy(t, f.URL)

	conn, err := eslegclient.NewConnection(eslegclient.ConnectionSettings{URL: p.URL()}, logp.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Connect(context.Background()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if v := conn.GetVersion(); v.String() != "7.10.2" {
		t.Errorf("libbeat sees version %s, want 7.10.2", v.String())
	}
	if conn.IsServerless() {
		t.Error("libbeat thinks the engine is serverless")
	}
	if err := licenser.FetchAndVerify(conn, logp.NewNopLogger()); err != nil {
		t.Fatalf("FetchAndVerify: %v", err)
	}
	lic, err := licenser.NewElasticFetcher(conn, logp.NewNopLogger()).Fetch()
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if lic.Type != licenser.Basic || lic.Status != licenser.Active || lic.UUID != LicenseUID || licenser.IsExpired(lic) {
		t.Errorf("licence = %+v, want an active basic one", lic)
	}

	// The ILM policy check of libbeat's lifecycle handler: 404 means "no policy", no error.
	status, _, err := conn.Request("GET", "/_ilm/policy/openctibeat", "", nil, nil)
	if status != http.StatusNotFound || err == nil {
		t.Errorf("GET /_ilm/policy: status %d, err %v; want 404", status, err)
	}
}

func TestGoElasticsearchAcceptsProxy(t *testing.T) {
	f := newFakeEngine(t)
	p := startProxy(t, f.URL)

	// Straight to the engine the product check fails...
	direct, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{f.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := direct.Info(); err == nil {
		res.Body.Close()
		t.Fatal("go-elasticsearch accepted the engine without the proxy; the test is not testing anything")
	}

	// ...through the proxy it passes.
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{p.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := es.Info()
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("Info: %s", res)
	}
	var info struct {
		Version struct {
			Number      string `json:"number"`
			BuildFlavor string `json:"build_flavor"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Version.Number != "7.10.2" || info.Version.BuildFlavor != "default" || !strings.Contains(info.Tagline, "OpenSearch") {
		t.Errorf("Info = %+v", info)
	}
}

func TestRootVersion(t *testing.T) {
	f := newFakeEngine(t)

	tests := []struct {
		name        string
		opts        []Option
		hdr         map[string]string
		wantVersion string
	}{
		{name: "default keeps the number", wantVersion: "7.10.2"},
		{name: "gzip asked by the client", hdr: map[string]string{"Accept-Encoding": "gzip"}, wantVersion: "7.10.2"},
		{name: "WithVersion", opts: []Option{WithVersion("9.4.0")}, wantVersion: "9.4.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, f.URL, tc.opts...)
			resp, body := do(t, http.MethodGet, p.URL()+"/?pretty", "", tc.hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			checkProductHeader(t, resp)
			if resp.Header.Get("Content-Encoding") != "" {
				t.Fatalf("answer is still encoded (%s)", resp.Header.Get("Content-Encoding"))
			}
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			v := doc["version"].(map[string]any)
			if v["number"] != tc.wantVersion || v["build_flavor"] != "default" || v["lucene_version"] != "9.4.2" {
				t.Errorf("version = %v", v)
			}
			if doc["cluster_name"] != "openctibeat-test" {
				t.Errorf("other fields lost: %v", doc)
			}
		})
	}
}

func TestXpack(t *testing.T) {
	f := newFakeEngine(t)
	p := startProxy(t, f.URL)
	resp, body := do(t, http.MethodGet, p.URL()+"/_xpack?filter_path=features.monitoring.enabled", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	checkProductHeader(t, resp)
	// What libbeat's monitoring reporter reads.
	var got struct {
		Features struct {
			Monitoring struct{ Available, Enabled bool }
			ILM        struct{ Available, Enabled bool } `json:"ilm"`
		}
		License struct{ Type, Status string }
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Features.Monitoring.Enabled || got.Features.ILM.Available || got.License.Type != "basic" || got.License.Status != "active" {
		t.Errorf("_xpack = %s", body)
	}
}

func TestILM(t *testing.T) {
	f := newFakeEngine(t)
	p := startProxy(t, f.URL)
	for _, tc := range []struct{ method, path, reason string }{
		{http.MethodGet, "/_ilm/policy/openctibeat", "Lifecycle policy not found: openctibeat"},
		{http.MethodPut, "/_ilm/policy/openctibeat", "setup.ilm.enabled: false"},
		{http.MethodGet, "/_ilm/status", "setup.ilm.enabled: false"},
	} {
		resp, body := do(t, tc.method, p.URL()+tc.path, "", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: status %d, want 404", tc.method, tc.path, resp.StatusCode)
		}
		checkProductHeader(t, resp)
		var e struct {
			Error struct {
				Type, Reason string
			}
			Status int
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s %s: %v: %s", tc.method, tc.path, err, body)
		}
		if e.Status != 404 || e.Error.Type != "resource_not_found_exception" || !strings.Contains(e.Error.Reason, tc.reason) {
			t.Errorf("%s %s: %s", tc.method, tc.path, body)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}

func TestPassThrough(t *testing.T) {
	f := newFakeEngine(t)
	p := startProxy(t, f.URL)

	tests := []struct {
		method, path, query, body string
		wantStatus                int
	}{
		{http.MethodPost, "/logs-x/_doc", "refresh=wait_for&pipeline=p%201", `{"a":1}`, http.StatusCreated},
		{http.MethodPut, "/_index_template/t1", "", `{"index_patterns":["x-*"]}`, http.StatusCreated},
		{http.MethodGet, "/logs-x/_search", "q=a%3A1&size=5", "", http.StatusOK},
		{http.MethodDelete, "/logs-*", "ignore_unavailable=true", "", http.StatusOK},
		{http.MethodGet, "/missing/_doc/1", "", "", http.StatusNotFound},
		{http.MethodPost, "/_bulk", "", "{\"create\":{\"_index\":\"x\"}}\n{\"a\":1}\n", http.StatusCreated},
		{http.MethodGet, "/_license_like/_doc/1", "", "", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			u := p.URL() + tc.path
			if tc.query != "" {
				u += "?" + tc.query
			}
			before := len(f.requests())
			resp, body := do(t, tc.method, u, tc.body, map[string]string{"Content-Type": "application/json", "X-Custom": "v"})
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			checkProductHeader(t, resp)
			if resp.Header.Get("X-Upstream") != "yes" {
				t.Errorf("upstream header lost: %v", resp.Header)
			}
			var echo map[string]string
			if err := json.Unmarshal(body, &echo); err != nil {
				t.Fatalf("%v: %q", err, body)
			}
			want := map[string]string{"method": tc.method, "path": tc.path, "query": tc.query, "body": tc.body}
			for k, v := range want {
				if echo[k] != v {
					t.Errorf("echo %s = %q, want %q", k, echo[k], v)
				}
			}
			reqs := f.requests()
			if len(reqs) != before+1 {
				t.Fatalf("upstream saw %d requests, want 1", len(reqs)-before)
			}
			if got := reqs[before].Header.Get("X-Custom"); got != "v" {
				t.Errorf("request header X-Custom = %q", got)
			}
		})
	}

	// HEAD passes through (no body).
	resp, body := do(t, http.MethodHead, p.URL()+"/_index_template/t1", "", nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("X-Upstream") != "yes" {
		t.Errorf("HEAD: status %d, body %q, header %v", resp.StatusCode, body, resp.Header)
	}
	checkProductHeader(t, resp)

	// The upstream's own product header is not duplicated.
	resp, _ = do(t, http.MethodGet, p.URL()+"/already-branded", "", nil)
	checkProductHeader(t, resp)
}

func TestCompatibilityMediaTypes(t *testing.T) {
	f := newFakeEngine(t)
	p := startProxy(t, f.URL)
	do(t, http.MethodPost, p.URL()+"/_bulk", "{}\n", map[string]string{
		"Content-Type": "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
		"Accept":       "application/vnd.elasticsearch+json;compatible-with=8",
	})
	do(t, http.MethodPost, p.URL()+"/x/_doc", "{}", map[string]string{
		"Content-Type": "application/vnd.elasticsearch+json; compatible-with=8",
	})
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	if ct, acc := reqs[0].Header.Get("Content-Type"), reqs[0].Header.Get("Accept"); ct != "application/x-ndjson" || acc != "application/json" {
		t.Errorf("bulk: Content-Type %q, Accept %q", ct, acc)
	}
	if ct := reqs[1].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("doc: Content-Type %q", ct)
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	p := startProxy(t, dead)
	resp, body := do(t, http.MethodGet, p.URL()+"/_cat/indices", "", nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "esproxy_upstream_exception") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
	checkProductHeader(t, resp)
}

func TestServeFixedAddress(t *testing.T) {
	f := newFakeEngine(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	p, err := Serve(addr, f.URL)
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if p.URL() != "http://"+addr {
		t.Errorf("URL = %s, want http://%s", p.URL(), addr)
	}
	resp, _ := do(t, http.MethodGet, p.URL()+"/_license", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(p.URL() + "/"); err == nil {
		t.Error("proxy still answers after Close")
	}

	// The address is busy while a proxy listens on it.
	p2, err := Serve(addr, f.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if p3, err := Serve(addr, f.URL); err == nil {
		p3.Close()
		t.Error("second Serve on the same address succeeded")
	}
}

func TestHandlerOnOwnServer(t *testing.T) {
	f := newFakeEngine(t)
	u, _ := url.Parse(f.URL)
	srv := httptest.NewServer(Handler(u))
	defer srv.Close()
	resp, body := do(t, http.MethodGet, srv.URL+"/_cluster/health", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "/_cluster/health") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
	checkProductHeader(t, resp)
}

func TestBadUpstream(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:9200", "ftp://x", "http://", "://"} {
		if p, err := New(u); err == nil {
			p.Close()
			t.Errorf("New(%q) succeeded", u)
		}
	}
}
