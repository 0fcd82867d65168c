package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/mapping/ecsmode"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/opencti/stream"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := Generate(500, DefaultSeed), Generate(500, DefaultSeed)
	if sha256.Sum256(a.Bytes) != sha256.Sum256(b.Bytes) {
		t.Fatal("two generations of the same stream differ")
	}
	// Event i does not depend on the events before it.
	g := Generator{Seed: DefaultSeed}
	if got, want := g.AppendSSE(nil, 321), a.EventBytes(321); !bytes.Equal(got, want) {
		t.Fatalf("event 321 alone:\n%s\nin the stream:\n%s", got, want)
	}
	if c := Generate(500, DefaultSeed+1); bytes.Equal(c.Bytes, a.Bytes) {
		t.Fatal("another seed gives the same stream")
	}
}

func TestGenerateSize(t *testing.T) {
	d := Generate(20000, DefaultSeed)
	avg := float64(len(d.Bytes)) / float64(d.N)
	t.Logf("average SSE event: %.0f bytes", avg)
	if avg < 1900 || avg > 2200 {
		t.Errorf("average event size %.0f bytes, want about 2 KB (1900..2200)", avg)
	}
}

func TestEventIDs(t *testing.T) {
	for _, i := range []int{0, 1, 12345, 999999} {
		got, ok := EventIndex(EventID(i))
		if !ok || got != i {
			t.Errorf("EventIndex(EventID(%d)) = %d, %t", i, got, ok)
		}
		id := InternalID(DefaultSeed, i) + ":0123456789abcdef"
		got, ok = EventOfDocID([]byte(id))
		if !ok || got != i {
			t.Errorf("EventOfDocID(%q) = %d, %t, want %d", id, got, ok, i)
		}
	}
	if _, ok := EventOfDocID([]byte("not-an-id")); ok {
		t.Error("EventOfDocID accepted a foreign id")
	}
}

// TestEventsMapCleanly runs generated events through the beat's own decoder
// and ecs mapper: every one must give documents whose ids map back to it.
func TestEventsMapCleanly(t *testing.T) {
	const n = 3000
	m := ecsmode.New(ecsmode.DefaultConfig(), "https://opencti.example", func() time.Time {
		return time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	})
	g := Generator{Seed: DefaultSeed}
	docs, types := 0, map[string]int{}
	for i := range n {
		msg := stream.Message{ID: EventID(i), Event: "create", Data: []byte(g.Envelope(i))}
		if !json.Valid(msg.Data) {
			t.Fatalf("event %d: invalid JSON: %s", i, msg.Data)
		}
		ev, err := event.Decode(msg)
		if err != nil {
			t.Fatalf("event %d: decode: %v", i, err)
		}
		out, err := m.Map(ev)
		if err != nil {
			t.Fatalf("event %d (%s): map: %v", i, ev.Object.String("pattern"), err)
		}
		if len(out) == 0 {
			t.Fatalf("event %d (%s): no documents", i, ev.Object.String("pattern"))
		}
		for _, doc := range out {
			if j, ok := EventOfDocID([]byte(doc.ID)); !ok || j != i {
				t.Fatalf("event %d: document id %q maps to %d, %t", i, doc.ID, j, ok)
			}
			if ti, ok := doc.Fields["threat"].(map[string]any); ok {
				if ind, ok := ti["indicator"].(map[string]any); ok {
					typ, _ := ind["type"].(string)
					types[typ]++
				}
			}
		}
		docs += len(out)
	}
	t.Logf("%d events -> %d documents (%.2f per event); by threat.indicator.type: %v", n, docs, float64(docs)/n, types)
	for _, typ := range []string{"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file", "windows-registry-key", "x509-certificate"} {
		if types[typ] == 0 {
			t.Errorf("no %s documents", typ)
		}
	}
}
