package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
)

type scanned struct {
	Op  string
	ID  string
	Doc string
}

func scanAll(body string) ([]scanned, error) {
	var got []scanned
	_, err := ScanBulk([]byte(body), func(a Action) {
		got = append(got, scanned{Op: a.Op.String(), ID: string(a.ID), Doc: string(a.Doc)})
	})
	return got, err
}

func TestScanBulk(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []scanned
		wantErr error
	}{
		{
			name: "libbeat: an empty line after each document",
			body: `{"index":{"_index":"i","_id":"a"}}` + "\n" + `{"x":1}` + "\n\n" +
				`{"create":{"_index":"i","_id":"b"}}` + "\n" + `{"x":2}` + "\n\n",
			want: []scanned{{"index", "a", `{"x":1}`}, {"create", "b", `{"x":2}`}},
		},
		{
			name: "delete has no document",
			body: `{"delete":{"_index":"i","_id":"a"}}` + "\n" + `{"index":{"_id":"b","_index":"i"}}` + "\n" + `{"y":"z"}` + "\n",
			want: []scanned{{"delete", "a", ""}, {"index", "b", `{"y":"z"}`}},
		},
		{
			name: "CRLF, spaces, no final newline, no _id",
			body: "{ \"index\" : {\"_index\":\"i\"}}\r\n{\"x\":1}",
			want: []scanned{{"index", "", `{"x":1}`}},
		},
		{
			name: "an escaped quote in an id",
			body: `{"index":{"_id":"a\"b"}}` + "\n{}\n",
			want: []scanned{{"index", `a\"b`, `{}`}},
		},
		{
			name:    "a document without action",
			body:    `{"x":1}` + "\n",
			wantErr: errBadAction,
		},
		{
			name:    "an action without its document",
			body:    `{"index":{"_id":"a"}}` + "\n\n",
			want:    nil,
			wantErr: errNoSource,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scanAll(tt.body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendBulkAnswer(t *testing.T) {
	var got struct {
		Errors bool                        `json:"errors"`
		Items  []map[string]map[string]int `json:"items"`
	}
	b := AppendBulkAnswer(nil, []Op{OpIndex, OpCreate, OpDelete})
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := []map[string]map[string]int{{"index": {"status": 201}}, {"create": {"status": 201}}, {"delete": {"status": 200}}}
	if got.Errors {
		t.Error("errors is true")
	}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if empty := string(AppendBulkAnswer(nil, nil)); empty != `{"took":1,"errors":false,"items":[]}` {
		t.Errorf("empty answer %s", empty)
	}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func do(t *testing.T, method, u string, body []byte, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestSinkAnswers(t *testing.T) {
	emitted := time.Now().Add(-time.Second).UnixNano()
	rec := NewRecorder(func(i int) int64 {
		if i == 7 {
			return emitted
		}
		return 0
	}, 0)
	sink := NewSink(rec)
	srv := httptest.NewServer(sink)
	defer srv.Close()

	status, hdr, body := do(t, http.MethodGet, srv.URL+"/", nil, nil)
	if status != 200 || hdr.Get("X-Elastic-Product") != "Elasticsearch" || !strings.Contains(body, `"number":"8.19.0"`) {
		t.Errorf("GET /: %d %v %s", status, hdr, body)
	}
	if status, _, body = do(t, http.MethodGet, srv.URL+"/_license", nil, nil); status != 200 || !strings.Contains(body, `"status":"active"`) {
		t.Errorf("GET /_license: %d %s", status, body)
	}
	tmpl := srv.URL + "/_index_template/openctibeat-ecs"
	if status, _, _ = do(t, http.MethodHead, tmpl, nil, nil); status != 404 {
		t.Errorf("HEAD of a template never put: %d, want 404", status)
	}
	if status, _, body = do(t, http.MethodPut, tmpl, []byte(`{}`), nil); status != 200 || body != `{"acknowledged":true}` {
		t.Errorf("PUT template: %d %s", status, body)
	}
	if status, _, _ = do(t, http.MethodHead, tmpl, nil, nil); status != 200 {
		t.Errorf("HEAD of a template put: %d, want 200", status)
	}
	if status, _, body = do(t, http.MethodPost, srv.URL+"/logs/_delete_by_query", []byte(`{}`), nil); status != 200 || body != "{}" {
		t.Errorf("anything else: %d %s", status, body)
	}

	docID := InternalID(DefaultSeed, 7) + ":00aa"
	bulk := `{"index":{"_index":"i","_id":"` + docID + `"}}` + "\n" + `{"a":1}` + "\n\n" +
		`{"delete":{"_index":"i","_id":"` + docID + `"}}` + "\n" +
		`{"create":{"_index":"i","_id":"foreign"}}` + "\n" + `{"a":2}` + "\n\n"
	status, _, body = do(t, http.MethodPost, srv.URL+"/_bulk?filter_path=errors,items.*.error,items.*.status",
		gzipped(t, bulk), map[string]string{"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"})
	want := `{"took":1,"errors":false,"items":[{"index":{"status":201}},{"delete":{"status":200}},{"create":{"status":201}}]}`
	if status != 200 || body != want {
		t.Errorf("POST /_bulk: %d %s, want %s", status, body, want)
	}
	if sink.Docs() != 3 || sink.Requests() != 1 || sink.Bytes() != int64(len(bulk)) {
		t.Errorf("counters: docs %d requests %d bytes %d", sink.Docs(), sink.Requests(), sink.Bytes())
	}
	l := rec.Summary()
	if l.Docs != 2 || l.Unknown != 1 || l.P50ms < 1000 {
		t.Errorf("latency summary %+v: want 2 timed documents of about 1 s and 1 unknown", l)
	}

	if status, _, _ = do(t, http.MethodPost, srv.URL+"/_bulk", []byte("not json\n"), nil); status != 400 || sink.Errors() != 1 {
		t.Errorf("bad bulk: %d, errors %d", status, sink.Errors())
	}
}

func TestTimingCapturesAndTimes(t *testing.T) {
	engine := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"errors":false,"items":[{"index":{"status":201}},{"index":{"status":201}}]}`)
	})
	rec := NewRecorder(func(int) int64 { return time.Now().UnixNano() }, 0)
	var capture bytes.Buffer
	timing := NewTiming(engine, rec, &capture)
	srv := httptest.NewServer(timing)
	defer srv.Close()
	a := `{"index":{"_index":"i","_id":"` + InternalID(1, 1) + `:x"}}`
	b := `{"index":{"_index":"i","_id":"` + InternalID(1, 2) + `:y"}}`
	bulk := a + "\n{\"n\":1}\n\n" + b + "\n{\"n\":2}\n\n"
	status, _, body := do(t, http.MethodPost, srv.URL+"/_bulk", gzipped(t, bulk), map[string]string{"Content-Encoding": "gzip"})
	if status != 200 || !strings.Contains(body, `"errors":false`) {
		t.Fatalf("bulk through Timing: %d %s", status, body)
	}
	if err := timing.Flush(); err != nil {
		t.Fatal(err)
	}
	if timing.Docs() != 2 || timing.ErrorBulks() != 0 || rec.Summary().Docs != 2 {
		t.Errorf("docs %d, error bulks %d, timed %d", timing.Docs(), timing.ErrorBulks(), rec.Summary().Docs)
	}
	// The capture holds the body as received; ExpandCapture makes it plain
	// action and document lines.
	dir := t.TempDir()
	raw, plain := filepath.Join(dir, "raw"), filepath.Join(dir, "plain")
	// A second, uncompressed record.
	capture.WriteString(strconv.Itoa(len(bulk)) + " \n" + bulk)
	if err := os.WriteFile(raw, capture.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := ExpandCapture(raw, plain)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(plain)
	one := a + "\n{\"n\":1}\n" + b + "\n{\"n\":2}\n"
	if n != 4 || string(got) != one+one {
		t.Errorf("expanded %d actions:\n%s\nwant 4:\n%s", n, got, one+one)
	}
	// The plain loader cuts the capture into bulks.
	out := make(chan []byte, 10)
	if err := readBulks(t.Context(), strings.NewReader(one+one+a+"\n{}\n"), 2, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var sizes []int
	for body := range out {
		n, err := ScanBulk(body, func(Action) {})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, n)
	}
	if diff := cmp.Diff([]int{2, 2, 1}, sizes); diff != "" {
		t.Errorf("bulk sizes (-want +got):\n%s", diff)
	}
}

func TestRecorderPercentiles(t *testing.T) {
	const base = int64(1_000_000_000_000)
	rec := NewRecorder(func(i int) int64 { return base - int64(i)*int64(time.Millisecond) }, 0)
	events := make([]int32, 100)
	for i := range events {
		events[i] = int32(i + 1) // 1..100 ms old
	}
	rec.Observe(events, time.Unix(0, base))
	got := rec.Summary()
	want := Latency{Docs: 100, P50ms: 50, P99ms: 99, Maxms: 100}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if !rec.Last().Equal(time.Unix(0, base)) {
		t.Errorf("last %v", rec.Last())
	}
}

func TestSinkParsesOneRequestInK(t *testing.T) {
	rec := NewRecorder(func(int) int64 { return time.Now().UnixNano() }, 0)
	sink := NewSink(rec)
	sink.ParseEvery = 2
	srv := httptest.NewServer(sink)
	defer srv.Close()
	id := InternalID(DefaultSeed, 3)
	bulk := `{"create":{"_index":"i","_id":"` + id + `:a"}}` + "\n{}\n\n" + `{"create":{"_index":"i","_id":"` + id + `:b"}}` + "\n{}\n\n"
	hdr := map[string]string{"Content-Encoding": "gzip", "X-Elastic-Event-Count": "2", "X-Elastic-Uncompressed-Request-Length": strconv.Itoa(len(bulk))}
	for range 4 {
		status, _, body := do(t, http.MethodPost, srv.URL+"/_bulk", gzipped(t, bulk), hdr)
		if status != 200 || strings.Count(body, `"status":201`) != 2 {
			t.Fatalf("bulk: %d %s", status, body)
		}
	}
	if sink.Docs() != 8 || sink.Parsed() != 2 || sink.Bytes() != int64(4*len(bulk)) || rec.Summary().Docs != 4 {
		t.Errorf("docs %d parsed %d bytes %d timed %d; want 8, 2, %d, 4", sink.Docs(), sink.Parsed(), sink.Bytes(), rec.Summary().Docs, 4*len(bulk))
	}
	// A parsed request whose count disagrees with the header is refused.
	hdr["X-Elastic-Event-Count"] = "3"
	if status, _, _ := do(t, http.MethodPost, srv.URL+"/_bulk", gzipped(t, bulk), hdr); status != 400 {
		t.Errorf("count mismatch: status %d, want 400", status)
	}
}
