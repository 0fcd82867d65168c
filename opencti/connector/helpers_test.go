package connector

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"
	"go.uber.org/zap/zaptest/observer"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/opencti/api"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

const (
	testToken = "test-token"
	testID    = "5e1f3b52-7f4e-4a42-9d57-0c0e6b7b6a11"
)

// fakeClock hands every wait to the test, which fires it: the code under
// test is known to be waiting (its previous step done) when next returns.
type fakeClock struct{ waits chan fakeWait }

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{waits: make(chan fakeWait, 256)} }

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	w := fakeWait{d: d, fire: make(chan time.Time, 1)}
	f.waits <- w
	return w.fire
}

// next returns the next wait the code under test started.
func (f *fakeClock) next(t *testing.T) fakeWait {
	t.Helper()
	select {
	case w := <-f.waits:
		return w
	case <-time.After(15 * time.Second):
		t.Fatal("the connector did not start waiting")
		return fakeWait{}
	}
}

func (w fakeWait) elapse() { w.fire <- time.Now() }

func newServer(t *testing.T) *octiserver.Server {
	t.Helper()
	srv, err := octiserver.New(octiserver.Options{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// newClient is an api client of base that does not retry (faster failures).
func newClient(t *testing.T, base string) *api.Client {
	t.Helper()
	cfg := opencti.DefaultConfig()
	cfg.URL, cfg.Token = base, testToken
	c, err := api.New(cfg, api.WithRetry(0, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ID = testID
	cfg.Name = "openctibeat test"
	cfg.Scope = "elastic, indicator"
	return cfg
}

type fixture struct {
	conn  *Connector
	clock *fakeClock
	reg   *monitoring.Registry
	logs  *observer.ObservedLogs
}

func newFixture(t *testing.T, cfg Config, client API) *fixture {
	t.Helper()
	log, logs := logptest.NewTestingLoggerWithObserver(t, "")
	f := &fixture{clock: newFakeClock(), reg: monitoring.NewRegistry(), logs: logs}
	f.conn = New(cfg, client, log, f.reg, f.clock)
	return f
}

func (f *fixture) counter(name string) uint64 {
	v, ok := f.reg.Get(name).(*monitoring.Uint)
	if !ok {
		return 0
	}
	return v.Get()
}

// beat stands for the beater: the acknowledged position, and the resets it
// was told about (applied at once, as the beater's contract asks).
type beat struct {
	mu     sync.Mutex
	pos    checkpoint.Position
	ok     bool
	resets []checkpoint.Position
	acked  []checkpoint.Position // every position acked returned
}

func (b *beat) set(p checkpoint.Position) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pos, b.ok = p, true
}

func (b *beat) Acked() (checkpoint.Position, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ok {
		b.acked = append(b.acked, b.pos)
	}
	return b.pos, b.ok
}

// configuredStart is the beat's configured start point, where an emptied
// state sends it back.
var configuredStart = checkpoint.Position{StartFrom: "0-0", RecoverUntil: "2024-06-01T00:00:00.000Z"}

func (b *beat) OnReset(p checkpoint.Position) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resets = append(b.resets, p)
	if p == (checkpoint.Position{}) {
		p = configuredStart
	}
	b.pos, b.ok = p, true
}

func (b *beat) Resets() []checkpoint.Position {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]checkpoint.Position(nil), b.resets...)
}

// startRun runs the connector until the test ends.
func startRun(t *testing.T, c *Connector, b *beat) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, b.Acked, b.OnReset) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// requests returns the GraphQL requests of operation op, failing on any
// request that did not validate against OpenCTI's schema or lacked the token.
func requests(t *testing.T, srv *octiserver.Server, op string) []octiserver.GraphQLRequest {
	t.Helper()
	var out []octiserver.GraphQLRequest
	for _, r := range srv.GraphQLRequests() {
		if len(r.ValidationErrors) > 0 || !r.AuthOK {
			t.Fatalf("request %s: validation errors %v, auth ok %v", r.OperationName, r.ValidationErrors, r.AuthOK)
		}
		if r.OperationName == op {
			out = append(out, r)
		}
	}
	return out
}

// pingStates returns the state variable of every ping sent.
func pingStates(t *testing.T, srv *octiserver.Server) []string {
	t.Helper()
	var out []string
	for _, r := range requests(t, srv, "OpenctibeatPingConnector") {
		s, _ := r.Variables["state"].(string)
		out = append(out, s)
	}
	return out
}
