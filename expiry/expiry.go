package expiry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/elastic-agent-libs/monitoring"
)

// Client is the engine connection (libbeat's eslegclient.Connection).
type Client interface {
	Request(method, path, pipeline string, params map[string]string, body interface{}) (int, []byte, error)
}

// Field names in the documents.
const (
	validUntilField = "opencti.indicator.valid_until"
	timestampField  = "@timestamp"
)

// Keeper runs expiry and refresh on one index.
type Keeper struct {
	cfg     Config
	client  Client
	index   string
	log     *logp.Logger
	now     func() time.Time
	hint    chan time.Time
	expired *monitoring.Uint
	fresh   *monitoring.Uint
	errs    *monitoring.Uint
}

// New returns a Keeper for index. reg may be nil.
func New(cfg Config, client Client, index string, log *logp.Logger, reg *monitoring.Registry, now func() time.Time) *Keeper {
	if now == nil {
		now = time.Now
	}
	if reg == nil {
		reg = monitoring.NewRegistry()
	}
	return &Keeper{
		cfg: cfg, client: client, index: index, log: log, now: now,
		hint:    make(chan time.Time, 64),
		expired: monitoring.NewUint(reg, "expired_total"),
		fresh:   monitoring.NewUint(reg, "refreshed_total"),
		errs:    monitoring.NewUint(reg, "errors_total"),
	}
}

// Observe tells the keeper that a document expiring at t was written. It
// never blocks.
func (k *Keeper) Observe(t time.Time) {
	if k == nil || t.IsZero() {
		return
	}
	select {
	case k.hint <- t:
	default:
	}
}

// Run expires and refreshes until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	nextRefresh := k.now()
	for {
		now := k.now()
		if !now.Before(nextRefresh) {
			k.refresh(ctx)
			nextRefresh = now.Add(k.cfg.RefreshInterval)
		}
		k.expire(ctx)
		wake := now.Add(k.cfg.CheckInterval)
		if next, ok := k.nextExpiry(ctx); ok && next.Before(wake) {
			wake = next
		}
		if nextRefresh.Before(wake) {
			wake = nextRefresh
		}
		if !k.sleepUntil(ctx, wake) {
			return
		}
	}
}

// sleepUntil waits until t, or until an observed expiry earlier than t is
// due. It returns false when ctx ended.
func (k *Keeper) sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		d := t.Sub(k.now())
		if d <= 0 {
			return true
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
			return true
		case h := <-k.hint:
			timer.Stop()
			if h.Before(t) {
				// Wake just after it expires.
				t = h.Add(10 * time.Millisecond)
			}
		}
	}
}

// expire deletes the documents whose valid_until has passed.
func (k *Keeper) expire(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	now := k.now().UTC().Format(time.RFC3339Nano)
	q := map[string]any{"query": map[string]any{"range": map[string]any{validUntilField: map[string]any{"lte": now}}}}
	k.run("_delete_by_query", q, k.expired,
		"expiring indicators failed; retrying at the next check",
		"expired indicator documents deleted")
}

// refresh gives documents of still-valid indicators a new @timestamp.
func (k *Keeper) refresh(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	now := k.now().UTC()
	q := map[string]any{
		"query": map[string]any{"bool": map[string]any{
			"filter":   []any{map[string]any{"range": map[string]any{timestampField: map[string]any{"lt": now.Add(-k.cfg.RefreshAfter).Format(time.RFC3339Nano)}}}},
			"must_not": []any{map[string]any{"range": map[string]any{validUntilField: map[string]any{"lte": now.Format(time.RFC3339Nano)}}}},
		}},
		"script": map[string]any{
			"lang":   "painless",
			"source": "ctx._source['@timestamp'] = params.now",
			"params": map[string]any{"now": now.Format("2006-01-02T15:04:05.000Z")},
		},
	}
	k.run("_update_by_query", q, k.fresh,
		"refreshing indicators failed; retrying at the next refresh",
		"indicator documents refreshed to stay within the rules' 30-day window")
}

// run sends the by-query request op with body q and counts the documents
// it changed in done; it logs failed as a warning when the request fails
// (counted in errors_total) and changed when it changed documents.
func (k *Keeper) run(op string, q map[string]any, done *monitoring.Uint, failed, changed string) {
	n, err := k.byQuery(op, q)
	if err != nil {
		k.errs.Inc()
		k.log.Warnw(failed, "index", k.index, "error", err)
		return
	}
	if n > 0 {
		done.Add(uint64(n))
		k.log.Infow(changed, "index", k.index, "count", n)
	}
}

func (k *Keeper) byQuery(op string, body map[string]any) (int, error) {
	params := map[string]string{"conflicts": "proceed", "ignore_unavailable": "true", "allow_no_indices": "true", "refresh": "true"}
	status, resp, err := k.client.Request("POST", "/"+url.PathEscape(k.index)+"/"+op, "", params, body)
	if err != nil {
		return 0, err
	}
	if status == 404 {
		return 0, nil
	}
	if status >= 300 {
		return 0, fmt.Errorf("%s on %s: HTTP %d: %s", op, k.index, status, truncate(resp))
	}
	var r struct {
		Deleted int `json:"deleted"`
		Updated int `json:"updated"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return 0, fmt.Errorf("%s on %s: %w", op, k.index, err)
	}
	return r.Deleted + r.Updated, nil
}

// nextExpiry asks the engine for the earliest upcoming valid_until.
func (k *Keeper) nextExpiry(ctx context.Context) (time.Time, bool) {
	if ctx.Err() != nil {
		return time.Time{}, false
	}
	now := k.now().UTC().Format(time.RFC3339Nano)
	q := map[string]any{
		"size":  0,
		"query": map[string]any{"range": map[string]any{validUntilField: map[string]any{"gt": now}}},
		"aggs":  map[string]any{"next": map[string]any{"min": map[string]any{"field": validUntilField}}},
	}
	status, resp, err := k.client.Request("POST", "/"+url.PathEscape(k.index)+"/_search", "", map[string]string{"ignore_unavailable": "true", "allow_no_indices": "true"}, q)
	if err != nil || status >= 300 {
		return time.Time{}, false
	}
	var r struct {
		Aggregations struct {
			Next struct {
				Value *float64 `json:"value"`
			} `json:"next"`
		} `json:"aggregations"`
	}
	if json.Unmarshal(resp, &r) != nil || r.Aggregations.Next.Value == nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(*r.Aggregations.Next.Value)).Add(10 * time.Millisecond), true
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
