package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// The rule-type fields of indicator-match alerts, 8.x and 7.x.
const ruleTypeThreatMatch = "threat_match"

// sourceFields are the only _source fields read.
var sourceFields = []string{
	"@timestamp", "kibana.alert.original_time", "signal.original_time",
	"kibana.alert.uuid", "threat.enrichments", "threat.indicator",
}

// Reader searches alert indices and fetches indicator documents.
type Reader struct {
	es      *elasticsearch.Client
	indices []string
	filter  json.RawMessage
	timeout time.Duration
}

// NewReader searches indices (patterns allowed) for indicator-match alerts,
// adding filter (a query DSL clause, may be empty) to the query. Each
// request, from sending it to reading the last byte of the answer and
// go-elasticsearch's own retries included, must end within timeout (0: no
// limit): a hung engine fails the request instead of holding the poll.
func NewReader(es *elasticsearch.Client, indices []string, filter json.RawMessage, timeout time.Duration) *Reader {
	return &Reader{es: es, indices: indices, filter: filter, timeout: timeout}
}

// requestContext bounds one request by the reader's timeout.
func (r *Reader) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, r.timeout)
}

// Query selects a page of alerts.
type Query struct {
	// From: alerts whose @timestamp is at or after From.
	From time.Time
	// After: the sort values of the last hit of the previous page (nil for
	// the first page).
	After []any
	// Size is the page size.
	Size int
}

// SortFields is the sort of every search: @timestamp, then tie-breakers that
// make the order total: kibana.alert.uuid (8.x, unique per alert), then for
// 7.x signals, which have no unique keyword besides _id (not sortable in
// Elasticsearch 8), the rule id and the source event id (one indicator-match
// signal per rule and event). Missing keywords sort as "".
func SortFields() []any {
	kw := func(f string) any {
		return map[string]any{f: map[string]any{"order": "asc", "unmapped_type": "keyword", "missing": ""}}
	}
	return []any{
		map[string]any{"@timestamp": map[string]any{"order": "asc", "unmapped_type": "date"}},
		kw("kibana.alert.uuid"), kw("signal.rule.id"), kw("signal.parent.id"),
	}
}

// Body is the search body of q.
func (r *Reader) Body(q Query) ([]byte, error) {
	filters := []any{
		map[string]any{"range": map[string]any{"@timestamp": map[string]any{
			"gte": q.From.UTC().Format("2006-01-02T15:04:05.000Z"), "format": "strict_date_optional_time",
		}}},
		map[string]any{"bool": map[string]any{
			"should": []any{
				map[string]any{"term": map[string]any{"kibana.alert.rule.type": ruleTypeThreatMatch}},
				map[string]any{"term": map[string]any{"signal.rule.type": ruleTypeThreatMatch}},
			},
			"minimum_should_match": 1,
		}},
	}
	if len(bytes.TrimSpace(r.filter)) > 0 {
		filters = append(filters, r.filter)
	}
	body := map[string]any{
		"size":             q.Size,
		"sort":             SortFields(),
		"track_total_hits": false,
		"_source":          map[string]any{"includes": sourceFields},
		"query":            map[string]any{"bool": map[string]any{"filter": filters}},
	}
	if len(q.After) > 0 {
		body["search_after"] = q.After
	}
	return json.Marshal(body)
}

// Page returns the next page of alerts, in sort order.
func (r *Reader) Page(ctx context.Context, q Query) ([]Hit, error) {
	body, err := r.Body(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := r.requestContext(ctx)
	defer cancel()
	es := r.es
	res, err := es.Search(
		es.Search.WithContext(ctx),
		es.Search.WithIndex(r.indices...),
		es.Search.WithBody(bytes.NewReader(body)),
		es.Search.WithIgnoreUnavailable(true),
		es.Search.WithAllowNoIndices(true),
		es.Search.WithExpandWildcards("open,hidden"),
	)
	if err != nil {
		return nil, &SearchError{Op: "search " + strings.Join(r.indices, ","), Err: err}
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, statusError("search "+strings.Join(r.indices, ","), res.StatusCode, res.Body)
	}
	var out struct {
		Hits struct {
			Hits []Hit `json:"hits"`
		} `json:"hits"`
	}
	dec := json.NewDecoder(res.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, &SearchError{Op: "search " + strings.Join(r.indices, ","), Err: fmt.Errorf("decode answer: %w", err)}
	}
	return out.Hits.Hits, nil
}

// Document fetches a document by index and id; ok is false when it (or the
// index) does not exist. The index and id travel in the body of a _mget
// request, never in its path: go-elasticsearch writes path parts as they
// are, and behind a host with a path prefix (hosts: ["https://h/es"]) the
// transport drops a url.PathEscape'd form, so an id holding "/", "?" or
// "../" could reach another endpoint.
func (r *Reader) Document(ctx context.Context, index, id string) (map[string]any, bool, error) {
	op := fmt.Sprintf("get %q/%q", index, id)
	body, err := json.Marshal(map[string]any{"docs": []any{map[string]any{"_index": index, "_id": id}}})
	if err != nil {
		return nil, false, &SearchError{Op: op, Err: err}
	}
	ctx, cancel := r.requestContext(ctx)
	defer cancel()
	es := r.es
	res, err := es.Mget(bytes.NewReader(body), es.Mget.WithContext(ctx))
	if err != nil {
		return nil, false, &SearchError{Op: op, Err: err}
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, false, statusError(op, res.StatusCode, res.Body)
	}
	var out struct {
		Docs []struct {
			Found  bool            `json:"found"`
			Source map[string]any  `json:"_source"`
			Error  json.RawMessage `json:"error"`
		} `json:"docs"`
	}
	dec := json.NewDecoder(res.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, false, &SearchError{Op: op, Err: fmt.Errorf("decode answer: %w", err)}
	}
	if len(out.Docs) != 1 {
		return nil, false, &SearchError{Op: op, Err: fmt.Errorf("decode answer: %d docs, want 1", len(out.Docs))}
	}
	doc := out.Docs[0]
	if len(doc.Error) > 0 && string(doc.Error) != "null" {
		typ, reason := docError(doc.Error)
		if docMissing[typ] {
			return nil, false, nil
		}
		return nil, false, &SearchError{Op: op, Err: fmt.Errorf("%s: %s", typ, reason)}
	}
	return doc.Source, doc.Found && doc.Source != nil, nil
}

// docMissing are the per-document errors of _mget that mean the alert points
// to nothing readable here (a deleted index, a name or routing the engine
// refuses): the lookup is a miss. Other errors (security_exception, ...)
// fail the request.
var docMissing = map[string]bool{
	"index_not_found_exception":    true,
	"invalid_index_name_exception": true,
	"illegal_argument_exception":   true,
	"routing_missing_exception":    true,
}

// docError reads a per-document error: {"type":..., "reason":...}, or a
// plain string (older engines).
func docError(raw json.RawMessage) (typ, reason string) {
	var e struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(raw, &e); err == nil {
		return e.Type, e.Reason
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return "", s
	}
	return "", string(raw)
}

// SearchError is a failed request to Elasticsearch.
type SearchError struct {
	Op         string
	StatusCode int
	Err        error
}

func (e *SearchError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("elasticsearch %s: HTTP %d: %v", e.Op, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("elasticsearch %s: %v", e.Op, e.Err)
}

func (e *SearchError) Unwrap() error { return e.Err }

func statusError(op string, status int, body io.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(body, 1024))
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &SearchError{Op: op, StatusCode: status, Err: errors.New(msg)}
}
