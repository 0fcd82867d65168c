package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const sampleTraces = `File: openctibeat
Type: cpu
Duration: 10s, Total samples = 1.20s (12%)
-----------+-------------------------------------------------------
     300ms   runtime.mallocgc
             github.com/segmentio/encoding/json.decoder.decodeMapStringInterface
             github.com/segmentio/encoding/json.Unmarshal
             github.com/openctibeat/openctibeat/opencti/event.Decode
-----------+-------------------------------------------------------
     200ms   runtime.scanobject
             runtime.gcDrain
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
     100ms   runtime.memmove
             github.com/openctibeat/openctibeat/mapping/ecsmode.nest
             github.com/openctibeat/openctibeat/mapping/ecsmode.(*Mapper).doc
-----------+-------------------------------------------------------
     1.50s   bytes.FieldsFunc
             github.com/r3labs/sse/v2.(*Client).processEvent
-----------+-------------------------------------------------------
      50ms   github.com/klauspost/compress/flate.(*compressor).deflate
             github.com/elastic/beats/v7/libbeat/esleg/eslegclient.(*gzipEncoder).AddRaw
-----------+-------------------------------------------------------
      50ms   runtime.futex
             runtime.notesleep
             runtime.mPark
`

func TestCategorizeTraces(t *testing.T) {
	shares, total, err := CategorizeTraces(strings.NewReader(sampleTraces))
	if err != nil {
		t.Fatal(err)
	}
	if total != 2200*time.Millisecond {
		t.Errorf("total %s, want 2.2s", total)
	}
	got := map[string]float64{}
	for _, s := range shares {
		got[s.Category] = s.Seconds
	}
	want := map[string]float64{
		"JSON decoding of events (segmentio/encoding)": 0.3,
		catGC:                       0.2,
		"ecs mapping (ours)":        0.1,
		"r3labs/sse (SSE parsing)":  1.5,
		"gzip (output compression)": 0.05,
		catOther:                    0.05,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}
	if shares[0].Category != "r3labs/sse (SSE parsing)" {
		t.Errorf("largest first: %v", shares[0])
	}
}

func TestParsePprofValue(t *testing.T) {
	for in, want := range map[string]time.Duration{"10ms": 10 * time.Millisecond, "1.20s": 1200 * time.Millisecond, "2.5mins": 150 * time.Second} {
		got, err := parsePprofValue(in)
		if err != nil || got != want {
			t.Errorf("parsePprofValue(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}
