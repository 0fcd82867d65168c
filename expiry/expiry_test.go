package expiry

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"
)

type call struct {
	method, path string
	params       map[string]string
	body         string
}

// fakeEngine answers like the engine: a next expiry, and counts.
type fakeEngine struct {
	mu    sync.Mutex
	calls []call
	next  *float64 // min valid_until in ms
}

func (f *fakeEngine) Request(method, path, _ string, params map[string]string, body interface{}) (int, []byte, error) {
	b, _ := json.Marshal(body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method, path, params, string(b)})
	switch {
	case strings.HasSuffix(path, "/_delete_by_query"):
		return 200, []byte(`{"deleted":2}`), nil
	case strings.HasSuffix(path, "/_update_by_query"):
		return 200, []byte(`{"updated":3}`), nil
	case strings.HasSuffix(path, "/_search"):
		if f.next == nil {
			return 200, []byte(`{"aggregations":{"next":{"value":null}}}`), nil
		}
		out, _ := json.Marshal(map[string]any{"aggregations": map[string]any{"next": map[string]any{"value": *f.next}}})
		return 200, out, nil
	}
	return 404, nil, nil
}

func (f *fakeEngine) count(suffix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasSuffix(c.path, suffix) {
			n++
		}
	}
	return n
}

func TestKeeperQueries(t *testing.T) {
	eng := &fakeEngine{}
	reg := monitoring.NewRegistry()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	k := New(DefaultConfig(), eng, "logs-ti_x-default", logptest.NewTestingLogger(t, ""), reg, func() time.Time { return now })
	k.expire(context.Background())
	k.refresh(context.Background())
	if len(eng.calls) != 2 {
		t.Fatalf("calls %+v", eng.calls)
	}
	del, upd := eng.calls[0], eng.calls[1]
	if del.path != "/logs-ti_x-default/_delete_by_query" || del.params["conflicts"] != "proceed" ||
		!strings.Contains(del.body, `"opencti.indicator.valid_until":{"lte":"2026-11-27T12:00:00Z"}`) {
		t.Fatalf("delete %+v", del)
	}
	if upd.path != "/logs-ti_x-default/_update_by_query" || upd.params["conflicts"] != "proceed" ||
		!strings.Contains(upd.body, `"@timestamp":{"lt":"2026-11-20T12:00:00Z"}`) ||
		!strings.Contains(upd.body, `"must_not"`) || !strings.Contains(upd.body, `"now":"2026-11-27T12:00:00.000Z"`) {
		t.Fatalf("update %+v", upd)
	}
	snap := monitoring.CollectFlatSnapshot(reg, monitoring.Full, false)
	if snap.Ints["expired_total"] != 2 || snap.Ints["refreshed_total"] != 3 {
		t.Fatalf("metrics %v", snap.Ints)
	}
}

// TestKeeperWakesAtExpiry: an observed expiry earlier than the next check
// makes the keeper run at that moment.
func TestKeeperWakesAtExpiry(t *testing.T) {
	eng := &fakeEngine{}
	cfg := DefaultConfig()
	cfg.CheckInterval = time.Hour
	k := New(cfg, eng, "i", logptest.NewTestingLogger(t, ""), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { k.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for eng.count("_delete_by_query") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no first check")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	k.Observe(start.Add(300 * time.Millisecond))
	for eng.count("_delete_by_query") < 2 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the keeper did not wake at the observed expiry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("woke after %s, before the expiry", el)
	}
	cancel()
	<-done
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.RefreshAfter = 40 * 24 * time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "30 days") {
		t.Fatalf("err %v", err)
	}
}
