package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder collects, per document, the time from its event's emission to
// the answer of the bulk request that carried it.
type Recorder struct {
	emitted func(i int) int64

	mu      sync.Mutex
	lat     []int64 // nanoseconds
	unknown int64   // documents whose event could not be told
	last    int64   // unix nanoseconds of the last observation
}

// NewRecorder times documents against emitted (see Server.Emitted); hint
// is the expected number of documents.
func NewRecorder(emitted func(i int) int64, hint int) *Recorder {
	return &Recorder{emitted: emitted, lat: make([]int64, 0, hint)}
}

// Observe records the documents of one answered bulk request: events[k] is
// the event of document k (-1: unknown).
func (r *Recorder) Observe(events []int32, at time.Time) {
	now := at.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, i := range events {
		e := int64(0)
		if i >= 0 {
			e = r.emitted(int(i))
		}
		if e == 0 {
			r.unknown++
			continue
		}
		r.lat = append(r.lat, now-e)
	}
	if now > r.last {
		r.last = now
	}
}

// Last is when the last document was observed.
func (r *Recorder) Last() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.last)
}

// Latency summarises a Recorder.
type Latency struct {
	Docs    int     `json:"docs"`
	Unknown int64   `json:"unknown_docs,omitempty"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Maxms   float64 `json:"max_ms"`
}

// Summary computes the percentiles so far.
func (r *Recorder) Summary() Latency {
	r.mu.Lock()
	lat := slices.Clone(r.lat)
	unknown := r.unknown
	r.mu.Unlock()
	slices.Sort(lat)
	out := Latency{Docs: len(lat), Unknown: unknown}
	if len(lat) == 0 {
		return out
	}
	q := func(p float64) float64 {
		k := int(p * float64(len(lat)-1))
		return float64(lat[k]) / 1e6
	}
	out.P50ms, out.P99ms, out.Maxms = q(0.50), q(0.99), float64(lat[len(lat)-1])/1e6
	return out
}

// Timing wraps the handler in front of the real engine (the test bed's
// compatibility proxy): it times the documents of each _bulk request when
// the engine's answer has been passed on, and can capture the bulk bodies
// the engine accepted, as received (see ExpandCapture), for the plain
// loader. Like Sink, with ParseEvery k > 1 it gunzips and times only one
// gzip request in k (the beat shares the cores with the engine, so the
// harness keeps its own work small); documents are counted from libbeat's
// X-Elastic-Event-Count header.
type Timing struct {
	next http.Handler
	rec  *Recorder
	// ParseEvery: see above; 0 or 1 parses every request.
	ParseEvery int

	mu      sync.Mutex
	capture *bufio.Writer

	docs       atomic.Int64
	requests   atomic.Int64
	errorBulks atomic.Int64 // answers with "errors":true
	failed     atomic.Int64 // answers other than 200
	st         bulkState
}

// NewTiming wraps next; capture may be nil.
func NewTiming(next http.Handler, rec *Recorder, capture io.Writer) *Timing {
	t := &Timing{next: next, rec: rec}
	if capture != nil {
		t.capture = bufio.NewWriterSize(capture, 1<<20)
	}
	return t
}

// Flush writes out the capture.
func (t *Timing) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.capture == nil {
		return nil
	}
	return t.capture.Flush()
}

// Docs is the number of documents in 200-answered bulk requests.
func (t *Timing) Docs() int64 { return t.docs.Load() }

// ErrorBulks is the number of bulk answers reporting item errors.
func (t *Timing) ErrorBulks() int64 { return t.errorBulks.Load() }

// Failed is the number of bulk requests answered with another status than 200.
func (t *Timing) Failed() int64 { return t.failed.Load() }

func (t *Timing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !(strings.HasSuffix(r.URL.Path, "/_bulk") && r.Method == http.MethodPost) {
		t.next.ServeHTTP(w, r)
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	sw := &statusWriter{ResponseWriter: w}
	t.next.ServeHTTP(sw, r)
	now := time.Now()

	t.mu.Lock()
	defer t.mu.Unlock()
	req := t.requests.Add(1)
	if sw.status != 0 && sw.status != http.StatusOK {
		t.failed.Add(1)
		return
	}
	if bytes.Contains(sw.head, []byte(`"errors":true`)) {
		t.errorBulks.Add(1)
	}
	encoding := r.Header.Get("Content-Encoding")
	if t.capture != nil {
		fmt.Fprintf(t.capture, "%d %s\n", len(raw), encoding)
		_, _ = t.capture.Write(raw)
	}
	declared, hdrErr := strconv.Atoi(r.Header.Get("X-Elastic-Event-Count"))
	if t.ParseEvery > 1 && encoding == "gzip" && hdrErr == nil && (req-1)%int64(t.ParseEvery) != 0 {
		t.docs.Add(int64(declared))
		if t.rec != nil {
			t.rec.Observe(nil, now)
		}
		return
	}
	st := &t.st
	st.raw.Reset()
	st.raw.Write(raw)
	body, err := st.decode(encoding)
	if err != nil {
		return
	}
	st.events = st.events[:0]
	n, _ := ScanBulk(body, func(a Action) {
		i, ok := EventOfDocID(a.ID)
		if !ok {
			i = -1
		}
		st.events = append(st.events, int32(i))
	})
	t.docs.Add(int64(n))
	if t.rec != nil {
		t.rec.Observe(st.events, now)
	}
}

// ExpandCapture turns a Timing capture (each bulk body as received,
// after a "<length> <content-encoding>" line) into plain NDJSON action and
// document lines for Load, and returns the number of actions.
func ExpandCapture(src, dst string) (int, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	br := bufio.NewReaderSize(in, 1<<20)
	bw := bufio.NewWriterSize(out, 1<<20)
	var st bulkState
	total := 0
	for {
		head, err := br.ReadString('\n')
		if errors.Is(err, io.EOF) && head == "" {
			break
		}
		if err != nil {
			return total, fmt.Errorf("capture: %w", err)
		}
		var size int
		var enc string
		if _, err := fmt.Sscanf(strings.TrimSuffix(head, "\n")+" -", "%d %s", &size, &enc); err != nil {
			return total, fmt.Errorf("capture: bad record header %q", head)
		}
		if enc == "-" {
			enc = ""
		}
		st.raw.Reset()
		if _, err := io.CopyN(&st.raw, br, int64(size)); err != nil {
			return total, fmt.Errorf("capture: %w", err)
		}
		body, err := st.decode(enc)
		if err != nil {
			return total, fmt.Errorf("capture: %w", err)
		}
		n, err := ScanBulk(body, func(a Action) {
			_, _ = bw.Write(a.Line)
			_ = bw.WriteByte('\n')
			if a.Doc != nil {
				_, _ = bw.Write(a.Doc)
				_ = bw.WriteByte('\n')
			}
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("capture: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return total, err
	}
	return total, out.Close()
}

// statusWriter notes the status and the first bytes of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	head   []byte
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if len(w.head) < 64 {
		w.head = append(w.head, p[:min(len(p), 64-len(w.head))]...)
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
