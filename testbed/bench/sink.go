package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

var (
	errBadAction = errors.New("bulk: a line is not an action")
	errNoSource  = errors.New("bulk: an action lacks its document")
)

// Op is a bulk action.
type Op uint8

// The bulk actions.
const (
	OpIndex Op = iota
	OpCreate
	OpUpdate
	OpDelete
)

var opNames = [...]string{"index", "create", "update", "delete"}

func (o Op) String() string { return opNames[o] }

// Action is one action of a _bulk body; its slices point into the body.
type Action struct {
	Op   Op
	Line []byte // the action line
	ID   []byte // its _id, nil when absent
	Doc  []byte // the document line, nil for a delete
}

// ScanBulk walks an NDJSON _bulk body and calls fn for each action. Blank
// lines are skipped: libbeat writes one after each document.
func ScanBulk(body []byte, fn func(Action)) (int, error) {
	n := 0
	var pending []byte // action line waiting for its document
	var pendingOp Op
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimRight(line, " \t\r")
		if len(bytes.TrimLeft(line, " \t")) == 0 {
			continue
		}
		if pending != nil {
			fn(Action{Op: pendingOp, Line: pending, ID: docID(pending), Doc: line})
			pending = nil
			n++
			continue
		}
		op, ok := actionOp(line)
		if !ok {
			return n, fmt.Errorf("%w: %.80s", errBadAction, line)
		}
		if op == OpDelete {
			fn(Action{Op: op, Line: line, ID: docID(line)})
			n++
			continue
		}
		pending, pendingOp = line, op
	}
	if pending != nil {
		return n, errNoSource
	}
	return n, nil
}

// actionOp reads the op of an action line {"<op>":{...}}.
func actionOp(line []byte) (Op, bool) {
	line = bytes.TrimLeft(line, " \t")
	if len(line) < 4 || line[0] != '{' {
		return 0, false
	}
	rest := bytes.TrimLeft(line[1:], " \t")
	if len(rest) == 0 || rest[0] != '"' {
		return 0, false
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return 0, false
	}
	switch string(rest[1 : 1+end]) {
	case "index":
		return OpIndex, true
	case "create":
		return OpCreate, true
	case "update":
		return OpUpdate, true
	case "delete":
		return OpDelete, true
	}
	return 0, false
}

var idKey = []byte(`"_id":`)

// docID is the _id of an action line (ids with escapes are returned raw).
func docID(action []byte) []byte {
	i := bytes.Index(action, idKey)
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(action[i+len(idKey):], " ")
	if len(rest) == 0 || rest[0] != '"' {
		return nil
	}
	rest = rest[1:]
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '"':
			return rest[:j]
		}
	}
	return nil
}

// AppendBulkAnswer appends Elasticsearch's answer to a successful bulk with
// these ops, as libbeat reads it (with its filter_path
// "errors,items.*.error,items.*.status"; libbeat walks "items" and needs
// one entry per action, in order, even when errors is false).
func AppendBulkAnswer(dst []byte, ops []Op) []byte {
	dst = append(dst, `{"took":1,"errors":false,"items":[`...)
	for i, op := range ops {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"`...)
		dst = append(dst, op.String()...)
		if op == OpIndex || op == OpCreate {
			dst = append(dst, `":{"status":201}}`...)
		} else {
			dst = append(dst, `":{"status":200}}`...)
		}
	}
	return append(dst, "]}"...)
}

// Sink is the fast bulk sink: an Elasticsearch 8 stand-in that answers what
// libbeat's Elasticsearch output asks when it connects (GET /, /_license,
// index templates) and acknowledges every _bulk action after a minimal
// parse, timing each document with Recorder. Everything else gets 200 {}.
//
// Gunzipping is most of a sink's work (about 8 us per 2 KB document, as
// much as a third of what the beat itself spends): with ParseEvery k > 1 a
// gzip request that carries libbeat's X-Elastic-Event-Count header is
// parsed (and its documents timed) only one time in k; the others are
// answered from the header, with "index" items (libbeat reads only the
// status of each item, not its action name).
type Sink struct {
	rec *Recorder // may be nil
	// ParseEvery: see above; 0 or 1 parses every request.
	ParseEvery int

	mu        sync.Mutex
	templates map[string]bool
	sample    []byte // first full bulk body as received, for measuring the sink alone
	sampleEnc string

	docs     atomic.Int64
	requests atomic.Int64
	parsed   atomic.Int64 // requests parsed
	rawBytes atomic.Int64 // uncompressed bulk bytes
	errs     atomic.Int64

	bufs sync.Pool
}

// NewSink returns a sink timing documents with rec (nil: no timing).
func NewSink(rec *Recorder) *Sink {
	return &Sink{rec: rec, templates: map[string]bool{}}
}

// Docs is the number of bulk actions acknowledged.
func (s *Sink) Docs() int64 { return s.docs.Load() }

// Requests is the number of bulk requests answered.
func (s *Sink) Requests() int64 { return s.requests.Load() }

// Bytes is the number of uncompressed bulk bytes received.
func (s *Sink) Bytes() int64 { return s.rawBytes.Load() }

// Parsed is the number of bulk requests parsed.
func (s *Sink) Parsed() int64 { return s.parsed.Load() }

// Errors is the number of bulk requests the sink could not parse (or whose
// count disagreed with their X-Elastic-Event-Count header).
func (s *Sink) Errors() int64 { return s.errs.Load() }

// Sample returns the first bulk body of at least 1000 actions, as received,
// with its Content-Encoding.
func (s *Sink) Sample() ([]byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sample, s.sampleEnc
}

const esRoot = `{"name":"bench-sink","cluster_name":"bench","cluster_uuid":"bench-sink-uuid-0000000000",` +
	`"version":{"number":"8.19.0","build_flavor":"default","build_type":"tar","build_hash":"bench",` +
	`"build_date":"2025-01-01T00:00:00.000Z","build_snapshot":false,"lucene_version":"9.12.0",` +
	`"minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},` +
	`"tagline":"You Know, for Search"}`

const esLicense = `{"license":{"status":"active","uid":"bench-sink-license","type":"basic","issue_date":"2025-01-01T00:00:00.000Z",` +
	`"issue_date_in_millis":1735689600000,"max_nodes":1000,"issued_to":"bench","issuer":"elasticsearch","start_date_in_millis":-1}}`

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	path := r.URL.Path
	switch {
	case path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		_, _ = io.WriteString(w, esRoot)
	case path == "/_license":
		_, _ = io.WriteString(w, esLicense)
	case strings.HasPrefix(path, "/_index_template/"):
		s.template(w, r, strings.TrimPrefix(path, "/_index_template/"))
	case strings.HasSuffix(path, "/_bulk") && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.bulk(w, r)
	default:
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "{}")
	}
}

func (s *Sink) template(w http.ResponseWriter, r *http.Request, name string) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodHead:
		if !s.templates[name] {
			w.WriteHeader(http.StatusNotFound)
		}
	case http.MethodGet:
		if !s.templates[name] {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"type":"resource_not_found_exception","reason":"index template matching [`+name+`] not found"},"status":404}`)
			return
		}
		_, _ = io.WriteString(w, `{"index_templates":[{"name":"`+name+`","index_template":{}}]}`)
	case http.MethodPut, http.MethodPost:
		s.templates[name] = true
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	case http.MethodDelete:
		delete(s.templates, name)
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	}
}

// bulkState is the per-request scratch space, pooled.
type bulkState struct {
	raw    bytes.Buffer
	plain  bytes.Buffer
	gz     *gzip.Reader
	ops    []Op
	events []int32
	answer []byte
}

func (s *Sink) bulk(w http.ResponseWriter, r *http.Request) {
	st, _ := s.bufs.Get().(*bulkState)
	if st == nil {
		st = &bulkState{}
	}
	defer s.bufs.Put(st)
	st.raw.Reset()
	if _, err := st.raw.ReadFrom(r.Body); err != nil {
		s.errs.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := s.requests.Add(1)
	declared, hdrErr := strconv.Atoi(r.Header.Get("X-Elastic-Event-Count"))
	gzipped := r.Header.Get("Content-Encoding") == "gzip"
	if s.ParseEvery > 1 && gzipped && hdrErr == nil && declared > 0 && (req-1)%int64(s.ParseEvery) != 0 {
		if s.rec != nil {
			s.rec.Observe(nil, time.Now())
		}
		s.docs.Add(int64(declared))
		if n, err := strconv.ParseInt(r.Header.Get("X-Elastic-Uncompressed-Request-Length"), 10, 64); err == nil {
			s.rawBytes.Add(n)
		}
		st.ops = st.ops[:0]
		for range declared {
			st.ops = append(st.ops, OpIndex)
		}
		st.answer = AppendBulkAnswer(st.answer[:0], st.ops)
		_, _ = w.Write(st.answer)
		return
	}
	s.parsed.Add(1)
	body, err := st.decode(r.Header.Get("Content-Encoding"))
	if err != nil {
		s.errs.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st.ops, st.events = st.ops[:0], st.events[:0]
	n, err := ScanBulk(body, func(a Action) {
		st.ops = append(st.ops, a.Op)
		if i, ok := EventOfDocID(a.ID); ok {
			st.events = append(st.events, int32(i))
		} else {
			st.events = append(st.events, -1)
		}
	})
	if err == nil && hdrErr == nil && n != declared {
		err = fmt.Errorf("bulk: %d actions, X-Elastic-Event-Count says %d", n, declared)
	}
	if err != nil {
		s.errs.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":%q},"status":400}`, err.Error())
		return
	}
	now := time.Now()
	if s.rec != nil {
		s.rec.Observe(st.events, now)
	}
	s.docs.Add(int64(n))
	s.rawBytes.Add(int64(len(body)))
	if n >= 1000 {
		s.mu.Lock()
		if s.sample == nil {
			s.sample = bytes.Clone(st.raw.Bytes())
			s.sampleEnc = r.Header.Get("Content-Encoding")
		}
		s.mu.Unlock()
	}
	st.answer = AppendBulkAnswer(st.answer[:0], st.ops)
	_, _ = w.Write(st.answer)
}

// decode returns the request body, gunzipped when it is.
func (st *bulkState) decode(encoding string) ([]byte, error) {
	if encoding != "gzip" {
		return st.raw.Bytes(), nil
	}
	var err error
	if st.gz == nil {
		st.gz, err = gzip.NewReader(bytes.NewReader(st.raw.Bytes()))
	} else {
		err = st.gz.Reset(bytes.NewReader(st.raw.Bytes()))
	}
	if err != nil {
		return nil, err
	}
	st.plain.Reset()
	if _, err := st.plain.ReadFrom(st.gz); err != nil {
		return nil, err
	}
	return st.plain.Bytes(), nil
}

// HTTPServer serves h on 127.0.0.1 with a random port.
type HTTPServer struct {
	URL string
	srv *http.Server
}

// ServeHTTPHandler starts h on 127.0.0.1.
func ServeHTTPHandler(h http.Handler) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &HTTPServer{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// Close stops the server.
func (s *HTTPServer) Close() { _ = s.srv.Close() }
