package beater

import (
	"strings"
	"testing"

	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/mapping/stixmode"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/opencti/stream"
)

type published struct {
	pos  checkpoint.Position
	docs []mapping.Doc
}

type fakePublisher struct{ got []published }

func (f *fakePublisher) Publish(pos checkpoint.Position, docs []mapping.Doc) {
	f.got = append(f.got, published{pos, docs})
}

type panicMapper struct{}

func (panicMapper) Map(event.Event) ([]mapping.Doc, error) { panic("mapper bug") }

const indicator = `{"type":"indicator","id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad","modified":"2024-01-01T00:00:00Z","extensions":{"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba":{"id":"cee1aad9-81a9-4e38-a829-a06b56b29338"}}}`

func TestConsumer(t *testing.T) {
	reg := monitoring.NewRegistry()
	pub := &fakePublisher{}
	log, logs := logptest.NewTestingLoggerWithObserver(t, "")
	c := newConsumer(consumerParams{
		start:     checkpoint.Position{StartFrom: "0-0"},
		mapper:    stixmode.New(stixmode.DefaultConfig()),
		publisher: pub,
		log:       log,
		metrics:   newMetrics(reg),
	})
	msgs := []stream.Message{
		{Event: "connected", Data: []byte(`{"lastEventId":"9-0"}`)},
		{ID: "1-0", Event: "create", Data: []byte(`{"version":"4","data":` + indicator + `}`)},
		{ID: "2-0", Event: "create", Data: []byte(`{"data":{`)},                          // malformed JSON
		{ID: "3-0", Event: "update", Data: []byte(`{"data":{"type":"nope!","id":"x"}}`)}, // invalid object
		{ID: "4-0", Event: "heartbeat", Data: []byte(`"2024-01-01T00:00:00Z"`)},
		{ID: "5-0", Event: "something-new", Data: []byte(`{}`)},
		{ID: "6-0", Event: "delete", Data: []byte(`{"data":` + indicator + `}`)},
		{ID: "7-0", Event: "error", Data: []byte(`{"message":"boom"}`)},
		{ID: "8-0", Event: "create", Oversize: 20 << 20}, // data dropped by the stream
		{ID: "9-0", Event: "create", Data: []byte(strings.Repeat("[", 1<<20))},
	}
	for _, m := range msgs {
		c.Handle(m)
	}
	var got []string
	for _, p := range pub.got {
		ops := []string{}
		for _, d := range p.docs {
			ops = append(ops, d.Op.String()+":"+d.ID)
		}
		got = append(got, p.pos.StartFrom+"="+strings.Join(ops, ","))
	}
	// Each position is the last group of one id received whole: a
	// message's own id becomes the position once a later message, or a
	// heartbeat with a later id, arrives (never the heartbeat's own id).
	want := []string{
		"0-0=",
		"0-0=index:cee1aad9-81a9-4e38-a829-a06b56b29338",
		"1-0=", "2-0=", "3-0=", "3-0=",
		"5-0=delete:cee1aad9-81a9-4e38-a829-a06b56b29338",
		"6-0=", "7-0=", "8-0=",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published\n%v\nwant\n%v", got, want)
	}
	if s := c.StartPoint(); s.From != "8-0" || s.Recover != "" {
		t.Fatalf("start point %+v", s)
	}
	snap := monitoring.CollectFlatSnapshot(reg, monitoring.Full, false)
	for k, v := range map[string]int64{
		"received.create_total": 4, "received.other_total": 1, "received.heartbeat_total": 1,
		"skipped.malformed_json_total": 1, "skipped.invalid_object_total": 1, "skipped.oversize_total": 1,
		"skipped.too_deep_total": 1,
	} {
		if snap.Ints[k] != v {
			t.Errorf("metric %s = %d, want %d (all: %v)", k, snap.Ints[k], v, snap.Ints)
		}
	}
	for _, id := range []string{"2-0", "3-0", "8-0", "9-0"} {
		if logs.FilterField(logpField("event_id", id)).Len() == 0 {
			t.Errorf("no log line names event %s", id)
		}
	}
}

func TestConsumerSurvivesPanics(t *testing.T) {
	reg := monitoring.NewRegistry()
	pub := &fakePublisher{}
	c := newConsumer(consumerParams{
		start: checkpoint.Position{StartFrom: "0-0"}, mapper: panicMapper{}, publisher: pub,
		log: logptest.NewTestingLogger(t, ""), metrics: newMetrics(reg),
	})
	c.Handle(stream.Message{ID: "1-0", Event: "create", Data: []byte(`{"data":` + indicator + `}`)})
	if len(pub.got) != 1 || len(pub.got[0].docs) != 0 || pub.got[0].pos.StartFrom != "0-0" {
		t.Fatalf("published %+v", pub.got)
	}
	snap := monitoring.CollectFlatSnapshot(reg, monitoring.Full, false)
	if snap.Ints["skipped.panic_total"] != 1 {
		t.Fatalf("panic not counted: %v", snap.Ints)
	}
}

func TestFirstPosition(t *testing.T) {
	now := mustTime(t, "2024-03-01T10:00:00Z")
	tests := []struct {
		from    string
		recover bool
		want    checkpoint.Position
	}{
		{"0-0", true, checkpoint.Position{StartFrom: "0-0", RecoverUntil: "2024-03-01T10:00:00.000Z"}},
		{"0", false, checkpoint.Position{StartFrom: "0-0"}},
		{"now", true, checkpoint.Position{StartFrom: "1709287200000-0"}},
		{"2024-01-01T00:00:00Z", false, checkpoint.Position{StartFrom: "2024-01-01T00:00:00Z"}},
	}
	for _, tt := range tests {
		if got := firstPosition(configStart(tt.from, tt.recover), now); got != tt.want {
			t.Errorf("firstPosition(%s, %v) = %+v, want %+v", tt.from, tt.recover, got, tt.want)
		}
	}
}

// TestConsumerRecoveryPositions: through decoding, the position stays the
// recovery while recovered objects, their dependencies and heartbeats
// repeating their ids come, even with synthetic ids after the recover
// date, and leaves it on the stream's own event after the recover date.
func TestConsumerRecoveryPositions(t *testing.T) {
	pub := &fakePublisher{}
	start := checkpoint.Position{StartFrom: "0-0", RecoverUntil: "2024-01-01T00:00:00.000Z"} // 1704067200000
	c := newConsumer(consumerParams{
		start: start, mapper: stixmode.New(stixmode.DefaultConfig()), publisher: pub,
		log: logptest.NewTestingLogger(t, ""), metrics: newMetrics(monitoring.NewRegistry()),
	})
	with := func(referer string) []byte {
		return []byte(`{"data":` + indicator + `,"message":"creates a Indicator","origin":{"referer":"` + referer + `"},"version":"4"}`)
	}
	live := []byte(`{"version":"4","type":"create","scope":"external","origin":{"user_id":"x"},"data":` + indicator + `}`)
	c.Connected()
	for _, m := range []stream.Message{
		{ID: "1600000000000-0", Event: "create", Data: with("dependencies")},
		{ID: "1600000000000-0", Event: "create", Data: with("init")},
		{ID: "1600000000000-0", Event: "heartbeat", Data: []byte(`"2020-09-13T12:26:40.000Z"`)},
		{ID: "1704067300000-0", Event: "create", Data: with("init")}, // updated during the recovery
		{ID: "1704067300000-0", Event: "heartbeat", Data: []byte(`"2024-01-01T00:01:40.000Z"`)},
		{ID: "1704067400000-0", Event: "create", Data: with("dependencies")},
		{ID: "1704067400000-0", Event: "create", Data: live},
		{ID: "1704067500000-0", Event: "create", Data: live},
	} {
		c.Handle(m)
	}
	var got []string
	for _, p := range pub.got {
		got = append(got, p.pos.StartFrom+"|"+p.pos.RecoverUntil)
	}
	r := "0-0|2024-01-01T00:00:00.000Z"
	want := []string{r, r, r, r, r, r, "1704067200000-0|", "1704067400000-0|"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("positions\n%v\nwant\n%v", got, want)
	}
	if s := c.StartPoint(); s.From != "1704067400000-0" || s.Recover != "" {
		t.Fatalf("start point %+v", s)
	}
}
