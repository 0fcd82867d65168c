// Package esproxy is a small reverse proxy that lets the real Elastic clients
// (libbeat's Elasticsearch output and github.com/elastic/go-elasticsearch/v8)
// talk to the OpenSearch 2.5.0 engine that scripts/opensearch.sh runs for the
// tests. OpenSearch speaks the Elasticsearch 7.10 API, but the clients refuse
// it for reasons unrelated to the data path:
//
//   - go-elasticsearch v8 refuses every response that lacks the header
//     "X-Elastic-Product: Elasticsearch". The proxy adds it to every response.
//   - libbeat calls GET /_license when its output connects (licenser.FetchAndVerify,
//     registered for every beat in libbeat/cmd/root.go) and marks the
//     connection as failed unless the answer is 200 with a parseable licence.
//     OpenSearch has no /_license (it answers 400), so the proxy answers with a
//     basic, active licence.
//   - libbeat's monitoring reporter (monitoring.enabled: true) asks GET /_xpack
//     for features.monitoring.enabled. The proxy says monitoring is disabled,
//     so the reporter stays quiet instead of posting to /_monitoring/bulk.
//   - /_ilm/* does not exist in OpenSearch ("no handler found", 400). The proxy
//     answers 404 like Elasticsearch does for a missing policy, so libbeat's
//     HasPolicy check is clean; creating a policy still fails, and it could not
//     work anyway (OpenSearch rejects the index.lifecycle.name setting that
//     libbeat would put in the template): run the beat with setup.ilm.enabled: false.
//
// Everything else passes through unchanged (method, path, query, body,
// status, headers).
//
// # The version in GET /
//
// With compatibility.override_main_response_version: true (set by
// scripts/opensearch.sh) OpenSearch reports version 7.10.2 in GET /. That is
// accepted as is:
//
//   - libbeat (9.4) parses version.number in eslegclient.Connection.getVersion
//     and only refuses an older Elasticsearch in the callback registered by
//     registerESVersionCheckCallback (libbeat/cmd/instance/beat.go), which is
//     skipped when output.elasticsearch.allow_older_versions is true, its
//     default. Rewriting to 8.19.0 would not help when that option is false
//     (the check wants at least the beat's major.minor, 9.4), and would make
//     things worse elsewhere: the template builder keys features on the
//     version (match_only_text from 7.14, wildcard from 7.9, explicit dynamic
//     templates from 7.13), and OpenSearch lacks match_only_text and wildcard.
//     The bulk encoder only needs 7.5 or newer (no _type, "create" actions).
//   - go-elasticsearch v8 does not look at the version at all, only at the
//     X-Elastic-Product header.
//
// So the proxy keeps the number by default and only adds
// version.build_flavor "default" when it is missing (OpenSearch has none;
// libbeat logs "Got unexpected build flavor" otherwise, and would treat
// "serverless" specially). WithVersion rewrites the number for a test that
// needs another one (for example "9.4.0" to pass the strict version check).
//
// Requests sent in the Elasticsearch 8 compatibility mode
// (Content-Type/Accept "application/vnd.elasticsearch+json;compatible-with=8",
// sent by go-elasticsearch when EnableCompatibilityMode or
// ELASTIC_CLIENT_APIVERSIONING=true) get plain application/json and
// application/x-ndjson media types, which OpenSearch accepts.
package esproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ProductHeader and ProductValue are the header go-elasticsearch v8 requires
// on every response.
const (
	ProductHeader = "X-Elastic-Product"
	ProductValue  = "Elasticsearch"
)

// License values served on GET /_license and GET /_xpack.
const (
	LicenseUID           = "5f3b5a7e-0c1d-4e2f-9a8b-0123456789ab"
	licenseIssueDate     = "2024-01-01T00:00:00.000Z"
	licenseIssueDateMill = int64(1704067200000)
)

// Option changes how the proxy answers.
type Option func(*config)

type config struct {
	version string
}

// WithVersion makes GET / report version.number v instead of the engine's
// own (7.10.2 for OpenSearch with compatibility.override_main_response_version).
// An empty v keeps the engine's number.
func WithVersion(v string) Option {
	return func(c *config) { c.version = v }
}

// Proxy is a running proxy server.
type Proxy struct {
	url      string
	listener net.Listener
	server   *http.Server
	done     chan struct{}
}

// New starts a proxy on 127.0.0.1:0 in front of upstream (e.g. "http://127.0.0.1:9200").
func New(upstream string, opts ...Option) (*Proxy, error) {
	return Serve("127.0.0.1:0", upstream, opts...)
}

// Serve starts a proxy listening on addr (e.g. "127.0.0.1:9201") in front of upstream.
func Serve(addr, upstream string, opts ...Option) (*Proxy, error) {
	u, err := parseUpstream(upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esproxy: listen on %s: %w", addr, err)
	}
	p := &Proxy{
		url:      "http://" + ln.Addr().String(),
		listener: ln,
		server: &http.Server{
			Handler:           Handler(u, opts...),
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		_ = p.server.Serve(ln)
	}()
	return p, nil
}

// URL returns the proxy's base URL, e.g. "http://127.0.0.1:34567".
func (p *Proxy) URL() string { return p.url }

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.server.Close()
	<-p.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func parseUpstream(upstream string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(upstream))
	if err != nil {
		return nil, fmt.Errorf("esproxy: bad upstream URL %q: %w", upstream, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("esproxy: upstream must be an http(s) URL with a host, got %q", upstream)
	}
	return u, nil
}

// Handler returns the http.Handler (so callers can serve it on their own listener).
func Handler(upstream *url.URL, opts ...Option) http.Handler {
	cfg := &config{}
	for _, o := range opts {
		o(cfg)
	}
	target := *upstream
	h := &handler{cfg: cfg}
	h.proxy = h.newReverseProxy(&target, nil)
	h.rootProxy = h.newReverseProxy(&target, h.rewriteRoot)
	return h
}

type handler struct {
	cfg       *config
	proxy     *httputil.ReverseProxy
	rootProxy *httputil.ReverseProxy
}

func (h *handler) newReverseProxy(target *url.URL, modify func(*http.Response) error) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			// Scheme and host of the engine; the path is joined to the
			// target's (empty for the engine), the query is kept as sent.
			r.SetURL(target)
			normalizeMediaType(r.Out.Header, "Content-Type")
			normalizeMediaType(r.Out.Header, "Accept")
			if modify != nil {
				// The body is rewritten: let the transport negotiate
				// (and transparently decode) compression itself.
				r.Out.Header.Del("Accept-Encoding")
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			// The handler sets the header on every response; drop a
			// copy from upstream so it is not sent twice.
			resp.Header.Del(ProductHeader)
			if modify != nil {
				return modify(resp)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, r, http.StatusBadGateway, "esproxy_upstream_exception",
				fmt.Sprintf("esproxy: upstream request %s %s failed: %v", r.Method, r.URL.Path, err))
		},
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(ProductHeader, ProductValue)
	path := strings.TrimSuffix(r.URL.Path, "/")
	isGet := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case isGet && path == "/_license":
		writeJSON(w, r, http.StatusOK, licenseResponse())
	case isGet && path == "/_xpack":
		writeJSON(w, r, http.StatusOK, xpackResponse())
	case path == "/_ilm" || strings.HasPrefix(path, "/_ilm/"):
		reason := "index lifecycle management is not available on this test engine (OpenSearch); run with setup.ilm.enabled: false"
		if isGet {
			if name, ok := strings.CutPrefix(path, "/_ilm/policy/"); ok && name != "" {
				reason = "Lifecycle policy not found: " + name
			}
		}
		writeError(w, r, http.StatusNotFound, "resource_not_found_exception", reason)
	case r.Method == http.MethodGet && r.URL.Path == "/":
		h.rootProxy.ServeHTTP(w, r)
	default:
		h.proxy.ServeHTTP(w, r)
	}
}

// rewriteRoot adds version.build_flavor and, if configured, rewrites
// version.number in the answer to GET /.
func (h *handler) rewriteRoot(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	out := body
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&doc) == nil {
		if v, ok := doc["version"].(map[string]any); ok {
			if h.cfg.version != "" {
				v["number"] = h.cfg.version
			}
			if _, ok := v["build_flavor"]; !ok {
				v["build_flavor"] = "default"
			}
			if b, err := json.MarshalIndent(doc, "", "  "); err == nil {
				out = append(b, '\n')
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// normalizeMediaType turns the Elasticsearch 8 compatibility media types
// (application/vnd.elasticsearch+json;compatible-with=8 and
// application/vnd.elasticsearch+x-ndjson;compatible-with=8) into the plain
// ones OpenSearch accepts.
func normalizeMediaType(hdr http.Header, name string) {
	v := hdr.Get(name)
	if v == "" || !strings.Contains(v, "vnd.elasticsearch+") {
		return
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return
	}
	switch mt {
	case "application/vnd.elasticsearch+json":
		hdr.Set(name, "application/json")
	case "application/vnd.elasticsearch+x-ndjson":
		hdr.Set(name, "application/x-ndjson")
	}
}

func licenseResponse() map[string]any {
	return map[string]any{
		"license": map[string]any{
			"status":               "active",
			"uid":                  LicenseUID,
			"type":                 "basic",
			"issue_date":           licenseIssueDate,
			"issue_date_in_millis": licenseIssueDateMill,
			"max_nodes":            1000,
			"issued_to":            "opencti test",
			"issuer":               "elasticsearch",
			"start_date_in_millis": -1,
		},
	}
}

func xpackResponse() map[string]any {
	feature := func(available, enabled bool) map[string]any {
		return map[string]any{"available": available, "enabled": enabled}
	}
	return map[string]any{
		"build": map[string]any{
			"hash": "openctibeat-esproxy",
			"date": licenseIssueDate,
		},
		"license": map[string]any{
			"uid":    LicenseUID,
			"type":   "basic",
			"mode":   "basic",
			"status": "active",
		},
		"features": map[string]any{
			"ilm":        feature(false, false),
			"monitoring": feature(true, false),
			"security":   feature(false, false),
			"ml":         feature(false, false),
			"watcher":    feature(false, false),
			"graph":      feature(false, false),
			"slm":        feature(false, false),
		},
		"tagline": "You know, for X",
	}
}

func writeError(w http.ResponseWriter, r *http.Request, status int, typ, reason string) {
	cause := map[string]any{"type": typ, "reason": reason}
	writeJSON(w, r, status, map[string]any{
		"error":  map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason},
		"status": status,
	})
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set(ProductHeader, ProductValue)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}
