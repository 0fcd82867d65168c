package bench

// Per-stage CPU cost of one indicator, on the generated stream, to size the
// proposals of the benchmark report. Run with
//
//	go test -run '^$' -bench Stage -benchtime 4x ./testbed/bench/
//
// (one iteration runs a stage over all 5,000 generated events). Each
// reports us/indicator (wall) and cpu-us/indicator.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/elastic/beats/v7/libbeat/common"
	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/elastic-agent-libs/mapstr"
	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/mapping/ecsmode"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/opencti/stream"
	"github.com/openctibeat/openctibeat/publish"
)

const stageN = 5000

var stageData = func() func() *Data {
	var d *Data
	return func() *Data {
		if d == nil {
			d = Generate(stageN, DefaultSeed)
		}
		return d
	}
}()

func stageMessages() []stream.Message {
	g := Generator{Seed: DefaultSeed}
	msgs := make([]stream.Message, stageN)
	for i := range msgs {
		msgs[i] = stream.Message{ID: EventID(i), Event: "create", Data: []byte(g.Envelope(i))}
	}
	return msgs
}

func stageEvents(tb testing.TB) []event.Event {
	msgs := stageMessages()
	evs := make([]event.Event, len(msgs))
	for i, m := range msgs {
		ev, err := event.Decode(m)
		if err != nil {
			tb.Fatal(err)
		}
		evs[i] = ev
	}
	return evs
}

func stageMapper() *ecsmode.Mapper {
	return ecsmode.New(ecsmode.DefaultConfig(), "http://127.0.0.1:8080", time.Now)
}

func stageDocs(tb testing.TB) [][]mapping.Doc {
	m := stageMapper()
	evs := stageEvents(tb)
	out := make([][]mapping.Doc, len(evs))
	for i, ev := range evs {
		docs, err := m.Map(ev)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = docs
	}
	return out
}

// perIndicator reports the wall and the CPU time (this process, GC
// included; steadier than wall time on a busy machine) per indicator.
func perIndicator(b *testing.B, cpu0 time.Duration, indicators int) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(indicators), "us/indicator")
	b.ReportMetric(float64((selfCPU()-cpu0).Microseconds())/float64(indicators), "cpu-us/indicator")
}

type bodyTransport struct{ body []byte }

func (t bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(t.body)), Request: r}, nil
}

// BenchmarkStageR3labsSSE: r3labs/sse as opencti/stream uses it (a
// Subscribe over the whole stream), without decoding.
func BenchmarkStageR3labsSSE(b *testing.B) {
	d := stageData()
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		c := sse.NewClient("http://stream.invalid/stream", sse.ClientMaxBufferSize(16<<20))
		c.Connection = &http.Client{Transport: bodyTransport{d.Bytes}}
		c.ReconnectStrategy = &backoff.StopBackOff{}
		_ = c.SubscribeWithContext(context.Background(), "", func(ev *sse.Event) {
			_ = stream.Message{ID: string(ev.ID), Event: string(ev.Event), Data: ev.Data}
			n++
		})
	}
	perIndicator(b, cpu0, n)
}

// BenchmarkStageBufioLines: reading the same bytes line by line.
func BenchmarkStageBufioLines(b *testing.B) {
	d := stageData()
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		br := bytes.NewReader(d.Bytes)
		lr := newLineCounter(br)
		n += lr
	}
	perIndicator(b, cpu0, n)
}

func newLineCounter(r io.Reader) int {
	buf := make([]byte, 64<<10)
	events := 0
	prevNL := false
	for {
		k, err := r.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				if prevNL {
					events++
				}
				prevNL = true
			} else {
				prevNL = false
			}
		}
		if err != nil {
			return events
		}
	}
}

// BenchmarkStageDecode: opencti/event.Decode (envelope with raw data, then
// the object into a map).
func BenchmarkStageDecode(b *testing.B) {
	msgs := stageMessages()
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := event.Decode(m); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	perIndicator(b, cpu0, n)
}

// BenchmarkStageDecodeOnePass: the same data into the same types in one
// json.Unmarshal (what the bare loop does).
func BenchmarkStageDecodeOnePass(b *testing.B) {
	msgs := stageMessages()
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		for _, m := range msgs {
			var env bareEnvelope
			if err := json.Unmarshal(m.Data, &env); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	perIndicator(b, cpu0, n)
}

// BenchmarkStageMap: ecsmode.Map (pattern parsing included).
func BenchmarkStageMap(b *testing.B) {
	evs := stageEvents(b)
	m := stageMapper()
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		for _, ev := range evs {
			if _, err := m.Map(ev); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	perIndicator(b, cpu0, n)
}

// BenchmarkStageNormalize: libbeat's event normalisation of the documents'
// fields (beat.ProcessingConfig.EventNormalization, on by default).
func BenchmarkStageNormalize(b *testing.B) {
	docs := stageDocs(b)
	conv := common.NewGenericEventConverter(false, logp.NewNopLogger())
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		for _, ds := range docs {
			for _, d := range ds {
				_ = conv.Convert(mapstr.M(d.Fields))
			}
			n++
		}
	}
	perIndicator(b, cpu0, n)
}

// BenchmarkStageEncode: the Elasticsearch output's JSON encoding of the
// events (go-structform, as its queue-side event encoder does).
func BenchmarkStageEncode(b *testing.B) {
	docs := stageDocs(b)
	enc := eslegclient.NewJSONEncoder(nil, false)
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		for _, ds := range docs {
			for _, d := range ds {
				ev := publish.Event(d, nil)
				if err := enc.Marshal(&ev); err != nil {
					b.Fatal(err)
				}
			}
			n++
		}
	}
	perIndicator(b, cpu0, n)
}

// BenchmarkStageGzip: the output's gzip (level 1, libbeat's default) of the
// encoded documents.
func BenchmarkStageGzip(b *testing.B) {
	docs := stageDocs(b)
	enc := eslegclient.NewJSONEncoder(nil, false)
	var encoded [][]byte
	for _, ds := range docs {
		for _, d := range ds {
			ev := publish.Event(d, nil)
			if err := enc.Marshal(&ev); err != nil {
				b.Fatal(err)
			}
			encoded = append(encoded, bytes.Clone(enc.Reader().(*bytes.Buffer).Bytes()))
		}
	}
	gz, err := eslegclient.NewGzipEncoder(1, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	cpu0 := selfCPU()
	for b.Loop() {
		gz.Reset()
		for i, e := range encoded {
			if err := gz.AddRaw(eslegclient.RawEncoding{Encoding: e}); err != nil {
				b.Fatal(err)
			}
			if i%1600 == 1599 {
				_, _ = io.Copy(io.Discard, gz.Reader())
				gz.Reset()
			}
		}
		_, _ = io.Copy(io.Discard, gz.Reader())
		n += len(docs)
	}
	perIndicator(b, cpu0, n)
}

// BenchmarkSinkBulk: the fast sink's work per document on a gzip bulk body
// of 1600 documents encoded as libbeat does.
func BenchmarkSinkBulk(b *testing.B) {
	docs := stageDocs(b)
	gz, err := eslegclient.NewGzipEncoder(1, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, ds := range docs {
		for _, d := range ds {
			if n == 1600 {
				break
			}
			ev := publish.Event(d, nil)
			meta := map[string]any{"index": map[string]any{"_index": "i", "_id": d.ID}}
			if err := gz.Add(meta, &ev); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	body, _ := io.ReadAll(gz.Reader())
	sink := NewSink(NewRecorder(func(int) int64 { return 1 }, 0))
	cpu0 := selfCPU()
	docsDone := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/_bulk", bytes.NewReader(body))
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		sink.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
		docsDone += n
	}
	b.ReportMetric(float64((selfCPU()-cpu0).Microseconds())/float64(docsDone), "cpu-us/doc")
}
