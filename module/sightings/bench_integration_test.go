//go:build integration && unix

package sightings

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/module/sightings/alerts"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// BenchmarkIntegrationSightings is the sightings side of issue #6's
// figures: a backlog of alerts (default 100,000 over 1,000 indicators, in
// every shape) is bulk-loaded into the real engine (not timed), then the
// module polls it to the end against the fake OpenCTI, with the default
// page_size and max_alerts_per_poll. Every sighting must be exact. It prints
// the figures (alerts/s, polls, mutations, GraphQL requests, CPU) and one
// "BENCH_SIGHTINGS_JSON {...}" line; it asserts no time. Run it with
// "go run mage.go benchSightings", or:
//
//	OPENCTIBEAT_OPENSEARCH_URL=$url go test -tags integration -run '^$' \
//	  -bench IntegrationSightings -benchtime 1x -timeout 60m ./module/sightings/
//
// BENCH_SIGHTINGS_ALERTS and BENCH_SIGHTINGS_INDICATORS change the scale.
func BenchmarkIntegrationSightings(b *testing.B) {
	n := envInt(b, "BENCH_SIGHTINGS_ALERTS", 100000)
	k := envInt(b, "BENCH_SIGHTINGS_INDICATORS", 1000)
	env := newEngineEnv(b)
	reader := env.reader(env.patterns(), "")
	h0 := newHarness(b, reader, k)
	gs := backlog(h0, "b", n, k)
	loadStart := time.Now()
	env.addAlerts(gs...)
	load := time.Since(loadStart)
	want := expectations(gs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, nil, k) // same indicator ids, fresh OpenCTI and data path
		src := &timedSource{alertSource: reader}
		var octi *timedOpenCTI
		h.src = src
		h.mutate = func(c *Config) { c.Indices = env.patterns() }
		h.wrap = func(o OpenCTI) OpenCTI { octi = &timedOpenCTI{OpenCTI: o}; return octi }
		reg := monitoring.NewRegistry()
		m := h.module(reg)
		engineCPU0, cpu0 := env.engineCPU(), processCPU()
		b.StartTimer()

		start := time.Now()
		polls, maxMutations := 0, 0
		for {
			before := h.f.mutationCount()
			more, err := m.Poll(context.Background())
			if err != nil {
				b.Fatalf("poll %d: %v", polls, err)
			}
			polls++
			maxMutations = max(maxMutations, h.f.mutationCount()-before)
			if !more {
				break
			}
			if polls > n {
				b.Fatal("polls never end")
			}
		}
		wall := time.Since(start)

		b.StopTimer()
		cpu, engineCPU := processCPU()-cpu0, env.engineCPU()-engineCPU0
		if got := counter(reg, "alerts_total"); got != uint64(n) {
			b.Errorf("alerts_total = %d, want %d", got, n)
		}
		if maxMutations > k {
			b.Errorf("a poll sent %d mutations for %d indicators", maxMutations, k)
		}
		h.f.checkSightings(b, h.identity(), want)
		h.f.checkRequests(b)
		if len(want) != k {
			b.Errorf("%d indicators have alerts, want %d", len(want), k)
		}
		if b.Failed() {
			return
		}

		requests := map[string]int{}
		for _, r := range h.f.srv.GraphQLRequests() {
			requests[r.OperationName]++
		}
		mutations := h.f.mutationCount()
		rate := float64(n) / wall.Seconds()
		fig := map[string]any{
			"alerts": n, "indicators": k, "polls": polls, "wall_seconds": round3(wall.Seconds()),
			"alerts_per_second": round3(rate), "mutations": mutations, "max_mutations_per_poll": maxMutations,
			"graphql_requests": total(requests), "graphql_requests_by_operation": requests,
			"cpu_seconds_process": round3(cpu.Seconds()), "cpu_seconds_engine": round3(engineCPU.Seconds()),
			"search_pages": src.pages, "search_seconds": round3(src.took.Seconds()),
			"opencti_calls": octi.calls, "opencti_seconds": round3(octi.took.Seconds()),
			"page_size": m.cfg.PageSize, "max_alerts_per_poll": m.cfg.MaxAlertsPerPoll,
			"load_seconds_not_counted": round3(load.Seconds()), "exact": true,
		}
		fmt.Printf("sightings bench: %d alerts over %d indicators (bulk load into the engine: %.1f s, not counted)\n", n, k, load.Seconds())
		fmt.Printf("  polls: %d (page_size %d, max_alerts_per_poll %d)\n", polls, m.cfg.PageSize, m.cfg.MaxAlertsPerPoll)
		fmt.Printf("  wall: %.2f s, %.0f alerts/s\n", wall.Seconds(), rate)
		fmt.Printf("  mutations made: %d (at most %d in one poll)\n", mutations, maxMutations)
		fmt.Printf("  GraphQL requests: %d (%s)\n", total(requests), byOperation(requests))
		fmt.Printf("  time in alert searches: %.2f s (%d pages); in OpenCTI calls: %.2f s (%d calls)\n", src.took.Seconds(), src.pages, octi.took.Seconds(), octi.calls)
		fmt.Printf("  CPU: %.2f s in the test process (module, GraphQL client, fake OpenCTI with schema validation, Elasticsearch compatibility proxy), %.2f s in the engine\n", cpu.Seconds(), engineCPU.Seconds())
		fmt.Printf("  exact: %d sightings, each with its indicator's alert count, first_seen and last_seen\n", len(want))
		if j, err := json.Marshal(fig); err == nil {
			fmt.Printf("BENCH_SIGHTINGS_JSON %s\n", j)
		}
		b.ReportMetric(rate, "alerts/s")
		b.ReportMetric(float64(mutations), "mutations")
		b.ReportMetric(float64(total(requests)), "graphql_requests")
		b.ReportMetric(float64(polls), "polls")
		b.StartTimer()
	}
}

// timedSource times the alert searches.
type timedSource struct {
	alertSource
	pages int
	took  time.Duration
}

func (s *timedSource) Page(ctx context.Context, q alerts.Query) ([]alerts.Hit, error) {
	start := time.Now()
	defer func() { s.pages++; s.took += time.Since(start) }()
	return s.alertSource.Page(ctx, q)
}

// timedOpenCTI times the calls to OpenCTI (requests and retries included).
type timedOpenCTI struct {
	OpenCTI
	calls int
	took  time.Duration
}

func (o *timedOpenCTI) timed(start time.Time) { o.calls++; o.took += time.Since(start) }

func (o *timedOpenCTI) Indicator(ctx context.Context, id string) (*api.Indicator, error) {
	defer o.timed(time.Now())
	return o.OpenCTI.Indicator(ctx, id)
}

func (o *timedOpenCTI) SearchIndicators(ctx context.Context, search string, first int) ([]api.Indicator, error) {
	defer o.timed(time.Now())
	return o.OpenCTI.SearchIndicators(ctx, search, first)
}

func (o *timedOpenCTI) EnsureIdentity(ctx context.Context, in api.IdentityInput) (api.Identity, error) {
	defer o.timed(time.Now())
	return o.OpenCTI.EnsureIdentity(ctx, in)
}

func (o *timedOpenCTI) Sighting(ctx context.Context, id string) (*api.Sighting, error) {
	defer o.timed(time.Now())
	return o.OpenCTI.Sighting(ctx, id)
}

func (o *timedOpenCTI) AddSighting(ctx context.Context, in api.SightingInput) (api.Sighting, error) {
	defer o.timed(time.Now())
	return o.OpenCTI.AddSighting(ctx, in)
}

// engineCPU is the engine process's CPU time so far (node stats).
func (e *engineEnv) engineCPU() time.Duration {
	var stats struct {
		Nodes map[string]struct {
			Process struct {
				CPU struct {
					TotalInMillis int64 `json:"total_in_millis"`
				} `json:"cpu"`
			} `json:"process"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(e.do(http.MethodGet, "/_nodes/_local/stats/process", ""), &stats); err != nil {
		e.t.Fatalf("node stats: %v", err)
	}
	var ms int64
	for _, n := range stats.Nodes {
		ms += n.Process.CPU.TotalInMillis
	}
	return time.Duration(ms) * time.Millisecond
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}

func total(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

func byOperation(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for op := range m {
		keys = append(keys, op)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, op := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", op, m[op]))
	}
	return strings.Join(parts, ", ")
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
