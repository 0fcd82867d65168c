package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/google/go-cmp/cmp"
)

// fakeES answers every request with answer and records what it received.
type fakeES struct {
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request)
	mu     sync.Mutex
	got    []recorded
}

type recorded struct {
	Method, URI string
	Body        map[string]any
}

func newFakeES(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *fakeES {
	t.Helper()
	f := &fakeES{answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		f.got = append(f.got, recorded{Method: r.Method, URI: r.RequestURI, Body: body})
		f.mu.Unlock()
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		f.answer(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.got...)
}

func reader(t *testing.T, addr string, timeout time.Duration) *Reader {
	t.Helper()
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	return NewReader(es, []string{".alerts-security.alerts-*"}, nil, timeout)
}

// TestDocumentRequest: the alert's matched index and id reach Elasticsearch
// as data (the body of a _mget), whatever they hold and whether or not the
// host has a path prefix; never as a path that could name another document
// or endpoint.
func TestDocumentRequest(t *testing.T) {
	f := newFakeES(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"docs":[{"_index":"ti","_id":"x","found":true,"_source":{"threat":{"indicator":{"id":"i-1"}}}}]}`)
	})
	for _, prefix := range []string{"", "/es"} {
		for _, id := range []string{"doc-1", "a/b", "../_search", "x?pretty#f g", "%2F"} {
			t.Run(prefix+" "+id, func(t *testing.T) {
				before := len(f.requests())
				doc, ok, err := reader(t, f.srv.URL+prefix, time.Minute).Document(context.Background(), "ti", id)
				reqs := f.requests()[before:]
				want := []recorded{{Method: http.MethodPost, URI: prefix + "/_mget", Body: map[string]any{
					"docs": []any{map[string]any{"_index": "ti", "_id": id}},
				}}}
				if d := cmp.Diff(want, reqs); d != "" {
					t.Fatalf("requests (-want +got):\n%s", d)
				}
				if err != nil || !ok || doc == nil {
					t.Fatalf("Document = %v, %v, %v", doc, ok, err)
				}
			})
		}
	}
}

func TestDocumentAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantOK  bool
		wantErr bool
	}{
		{"found", 200, `{"docs":[{"_index":"ti","_id":"x","found":true,"_source":{"a":1}}]}`, true, false},
		{"not found", 200, `{"docs":[{"_index":"ti","_id":"x","found":false}]}`, false, false},
		{"no such index: a miss", 200, `{"docs":[{"_index":"gone","_id":"x","error":{"root_cause":[],"type":"index_not_found_exception","reason":"no such index [gone]"}}]}`, false, false},
		{"an alias of several indices: a miss", 200, `{"docs":[{"_index":"a","_id":"x","error":{"type":"illegal_argument_exception","reason":"alias [a] has more than one index associated with it"}}]}`, false, false},
		{"not allowed: an error", 200, `{"docs":[{"_index":"ti","_id":"x","error":{"type":"security_exception","reason":"action [indices:data/read/mget[shard]] is unauthorized"}}]}`, false, true},
		{"engine error", 500, `{"error":{"type":"x"}}`, false, true},
		{"unexpected answer", 200, `{"docs":[]}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeES(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			r := reader(t, f.srv.URL, time.Minute)
			_, ok, err := r.Document(context.Background(), "ti", "x")
			if ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Fatalf("Document = %v, %v; want ok %v, error %v", ok, err, tt.wantOK, tt.wantErr)
			}
			var se *SearchError
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("error %T, want *SearchError", err)
			}
		})
	}
}

// TestHungEngineTimesOut: an engine that accepts requests and never
// answers fails each of the reader's requests with the timeout, after one
// request (go-elasticsearch does not try again once the deadline passed).
func TestHungEngineTimesOut(t *testing.T) {
	var n atomic.Int32
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body) // then a hang-up cancels r.Context()
		// Until the client hangs up; the cap only keeps a client without a
		// timeout from hanging the test (it then gets an empty answer).
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	defer hung.Close()
	r := reader(t, hung.URL, 200*time.Millisecond)
	calls := map[string]func() error{
		"page": func() error {
			_, err := r.Page(context.Background(), Query{From: time.Unix(0, 0), Size: 10})
			return err
		},
		"document": func() error {
			_, _, err := r.Document(context.Background(), "ti", "x")
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			before := n.Load()
			err := call()
			var se *SearchError
			if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SearchError with the deadline", err)
			}
			if got := n.Load() - before; got != 1 {
				t.Fatalf("%d requests reached the engine, want 1", got)
			}
		})
	}
}
