package connector

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/opencti/api"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

func TestRegisterIsRecorded(t *testing.T) {
	srv := newServer(t)
	f := newFixture(t, testConfig(), newClient(t, srv.URL()))
	pos, ok, err := f.conn.Register(context.Background())
	if err != nil || ok || pos != (checkpoint.Position{}) {
		t.Fatalf("Register = %+v, %v, %v; want no state", pos, ok, err)
	}
	regs := requests(t, srv, "OpenctibeatRegisterConnector")
	if len(regs) != 1 {
		t.Fatalf("%d registrations, want 1", len(regs))
	}
	want := map[string]any{"id": testID, "name": "openctibeat test", "type": "STREAM", "scope": []any{"elastic", "indicator"}}
	if d := cmp.Diff(want, regs[0].Variables["input"]); d != "" {
		t.Fatalf("registerConnector input (-want +got):\n%s", d)
	}
}

func TestRegisterReturnsOpenCTIState(t *testing.T) {
	tests := []struct {
		name   string
		state  string
		want   checkpoint.Position
		wantOK bool
	}{
		{"beat's own state", `{"start_from": "1700000000000-3"}`, checkpoint.Position{StartFrom: "1700000000000-3"}, true},
		{"pycti state while recovering", `{"start_from": "0-0", "recover_until": "2024-05-01T10:00:00.000Z"}`,
			checkpoint.Position{StartFrom: "0-0", RecoverUntil: "2024-05-01T10:00:00.000Z"}, true},
		{"pycti state after recovery", `{"start_from": "1700000000000-0", "recover_until": null}`, checkpoint.Position{StartFrom: "1700000000000-0"}, true},
		{"pycti 4 state", `{"connectorLastEventId": "1600000000000-1"}`, checkpoint.Position{StartFrom: "1600000000000-1"}, true},
		{"reset state", ``, checkpoint.Position{}, false},
		{"unreadable state", `{"cursor": 12}`, checkpoint.Position{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			srv.SetConnectorState(testID, tt.state)
			f := newFixture(t, testConfig(), newClient(t, srv.URL()))
			pos, ok, err := f.conn.Register(context.Background())
			if err != nil || ok != tt.wantOK || pos != tt.want {
				t.Fatalf("Register = %+v, %v, %v; want %+v, %v", pos, ok, err, tt.want, tt.wantOK)
			}
			requests(t, srv, "")
		})
	}
}

// flakyAPI fails the first calls of each kind, then forwards to next.
type flakyAPI struct {
	next API

	mu            sync.Mutex
	registerFails int
	pingFails     int
	err           error
	registers     int
	pings         int
}

func (f *flakyAPI) RegisterConnector(ctx context.Context, r api.ConnectorRegistration) (api.Connector, error) {
	f.mu.Lock()
	f.registers++
	fail := f.registerFails > 0
	if fail {
		f.registerFails--
	}
	f.mu.Unlock()
	if fail {
		return api.Connector{}, f.err
	}
	return f.next.RegisterConnector(ctx, r)
}

func (f *flakyAPI) PingConnector(ctx context.Context, id string, state *string, info *api.ConnectorInfo) (api.Connector, error) {
	f.mu.Lock()
	f.pings++
	fail := f.pingFails > 0
	if fail {
		f.pingFails--
	}
	f.mu.Unlock()
	if fail {
		return api.Connector{}, f.err
	}
	return f.next.PingConnector(ctx, id, state, info)
}

func (f *flakyAPI) setPingFails(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pingFails, f.err = n, err
}

var errDown = &api.TransportError{Operation: "x", Err: errors.New("connect: connection refused")}

func TestRegisterRetriesWithBackoff(t *testing.T) {
	srv := newServer(t)
	srv.SetConnectorState(testID, `{"start_from": "9-0"}`)
	flaky := &flakyAPI{next: newClient(t, srv.URL()), registerFails: 8, err: errDown}
	f := newFixture(t, testConfig(), flaky)

	type result struct {
		pos checkpoint.Position
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		pos, ok, err := f.conn.Register(context.Background())
		done <- result{pos, ok, err}
	}()
	var waits []time.Duration
	for range 8 {
		w := f.clock.next(t)
		waits = append(waits, w.d)
		w.elapse()
	}
	r := <-done
	if r.err != nil || !r.ok || r.pos.StartFrom != "9-0" {
		t.Fatalf("Register = %+v", r)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	if d := cmp.Diff(want, waits); d != "" {
		t.Fatalf("back-off (-want +got):\n%s", d)
	}
	if flaky.registers != 9 {
		t.Fatalf("%d attempts, want 9", flaky.registers)
	}
}

func TestRegisterStopsWithContext(t *testing.T) {
	flaky := &flakyAPI{registerFails: 1 << 30, err: &api.GraphQLError{Operation: "x", Errors: []api.ErrorEntry{{Message: "You must be logged in to do this.", Code: "AUTH_REQUIRED"}}}}
	f := newFixture(t, testConfig(), flaky)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := f.conn.Register(ctx); done <- err }()
	f.clock.next(t).elapse()
	f.clock.next(t) // waiting after the second failure
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := f.logs.FilterMessageSnippet("the token is invalid: check openctibeat.opencti.token").Len(); n != 2 {
		t.Fatalf("%d error lines naming the token, want 2", n)
	}
}

func TestPingsCarryTheAcknowledgedState(t *testing.T) {
	srv := newServer(t)
	f := newFixture(t, testConfig(), newClient(t, srv.URL()))
	if _, _, err := f.conn.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := &beat{}
	startRun(t, f.conn, b)

	// Nothing acknowledged yet: no ping.
	w := f.clock.next(t)
	if w.d != 40*time.Second {
		t.Fatalf("ping interval %s, want 40s", w.d)
	}
	if got := pingStates(t, srv); len(got) != 0 {
		t.Fatalf("pinged before any acknowledgement: %v", got)
	}
	positions := []checkpoint.Position{
		{StartFrom: "0-0", RecoverUntil: "2024-05-01T10:00:00.000Z"},
		{StartFrom: "0-0", RecoverUntil: "2024-05-01T10:00:00.000Z"},
		{StartFrom: "1714557600001-0"},
		{StartFrom: "1714557600002-4"},
	}
	for _, p := range positions {
		b.set(p)
		w.elapse()
		w = f.clock.next(t)
	}
	want := []string{
		`{"start_from": "0-0", "recover_until": "2024-05-01T10:00:00.000Z"}`,
		`{"start_from": "0-0", "recover_until": "2024-05-01T10:00:00.000Z"}`,
		`{"start_from": "1714557600001-0"}`,
		`{"start_from": "1714557600002-4"}`,
	}
	got := pingStates(t, srv)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("ping states (-want +got):\n%s", d)
	}
	// Never a position acked did not return.
	returned := map[string]bool{}
	for _, p := range b.acked {
		returned[EncodeState(p)] = true
	}
	for _, s := range got {
		if !returned[s] {
			t.Fatalf("ping sent %s, which acked never returned", s)
		}
	}
	if st, _ := srv.ConnectorState(testID); st != want[len(want)-1] {
		t.Fatalf("OpenCTI holds %q", st)
	}
	if len(b.Resets()) != 0 || f.counter("pings_total") != 4 || f.counter("ping_errors_total") != 0 || f.counter("resets_total") != 0 {
		t.Fatalf("resets %v, pings %d, errors %d", b.Resets(), f.counter("pings_total"), f.counter("ping_errors_total"))
	}
}

func TestResetFromOpenCTI(t *testing.T) {
	tests := []struct {
		name      string
		state     string // what the operator sets
		want      checkpoint.Position
		wantReset bool
		wantLog   string
	}{
		{"reset to a position", `{"start_from": "1714557600000-0"}`, checkpoint.Position{StartFrom: "1714557600000-0"}, true,
			"another connector state (an operator reset it)"},
		{"reset to a recovery", `{"start_from": "0-0", "recover_until": "2024-05-01T10:00:00.000Z"}`,
			checkpoint.Position{StartFrom: "0-0", RecoverUntil: "2024-05-01T10:00:00.000Z"}, true, "another connector state"},
		{"OpenCTI's reset empties the state", ``, checkpoint.Position{}, true, "configured start point"},
		{"unreadable state is ignored", `{"start_from": 17}`, checkpoint.Position{}, false, "cannot read; ignoring it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			f := newFixture(t, testConfig(), newClient(t, srv.URL()))
			if _, _, err := f.conn.Register(context.Background()); err != nil {
				t.Fatal(err)
			}
			b := &beat{}
			acked := checkpoint.Position{StartFrom: "1714557700000-0"}
			b.set(acked)
			startRun(t, f.conn, b)
			w := f.clock.next(t) // first ping done

			srv.SetConnectorState(testID, tt.state)
			for range 3 {
				w.elapse()
				w = f.clock.next(t)
			}
			var want []checkpoint.Position
			if tt.wantReset {
				want = []checkpoint.Position{tt.want}
			}
			if d := cmp.Diff(want, b.Resets()); d != "" {
				t.Fatalf("onReset calls (-want +got):\n%s", d)
			}
			if got := f.counter("resets_total"); got != uint64(len(want)) {
				t.Fatalf("resets_total = %d", got)
			}
			if f.logs.FilterMessageSnippet(tt.wantLog).Len() != 1 {
				t.Fatalf("no single log line with %q: %v", tt.wantLog, f.logs.All())
			}
			// OpenCTI ends up with the position the beat reads from.
			wantState := EncodeState(acked)
			switch {
			case tt.wantReset && tt.want == (checkpoint.Position{}):
				wantState = EncodeState(configuredStart)
			case tt.wantReset:
				wantState = EncodeState(tt.want)
			}
			if st, _ := srv.ConnectorState(testID); st != wantState {
				t.Fatalf("OpenCTI holds %q, want %q", st, wantState)
			}
		})
	}
}

func TestStaleAnswerIsNoReset(t *testing.T) {
	// An OpenCTI that answers with the state of the previous ping (search
	// engine read-after-write latency) does not trigger a reset.
	srv := newServer(t)
	var mu sync.Mutex
	var prev any
	srv.HandleGraphQLCall("OpenctibeatPingConnector", func(call octiserver.GraphQLCall) (any, []string) {
		mu.Lock()
		defer mu.Unlock()
		answer := prev
		if answer == nil {
			answer = call.Variables["state"]
		}
		prev = call.Variables["state"]
		return map[string]any{"pingConnector": map[string]any{"id": testID, "connector_state": answer}}, nil
	})
	f := newFixture(t, testConfig(), newClient(t, srv.URL()))
	b := &beat{}
	b.set(checkpoint.Position{StartFrom: "1-0"})
	startRun(t, f.conn, b)
	w := f.clock.next(t)
	for _, id := range []string{"2-0", "3-0"} {
		b.set(checkpoint.Position{StartFrom: id})
		w.elapse()
		w = f.clock.next(t)
	}
	if len(b.Resets()) != 0 {
		t.Fatalf("stale answers taken as resets: %v", b.Resets())
	}
}

func TestErrorsDoNotStopRun(t *testing.T) {
	srv := newServer(t)
	flaky := &flakyAPI{next: newClient(t, srv.URL())}
	f := newFixture(t, testConfig(), flaky)
	if _, _, err := f.conn.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := &beat{}
	b.set(checkpoint.Position{StartFrom: "1-0"})
	flaky.setPingFails(2, errDown)
	startRun(t, f.conn, b)
	w := f.clock.next(t)
	w.elapse()
	w = f.clock.next(t)
	if got := pingStates(t, srv); len(got) != 0 || f.counter("ping_errors_total") != 2 {
		t.Fatalf("pings reaching OpenCTI %v, errors %d", got, f.counter("ping_errors_total"))
	}
	w.elapse()
	f.clock.next(t)
	if got := pingStates(t, srv); len(got) != 1 || f.counter("pings_total") != 3 {
		t.Fatalf("after the errors: pings %v, pings_total %d", got, f.counter("pings_total"))
	}
	if f.logs.FilterMessageSnippet("cannot ping OpenCTI; retrying at the next ping").Len() != 2 {
		t.Fatalf("want two warnings: %v", f.logs.All())
	}
}

func TestOpenCTIDownDoesNotStopRun(t *testing.T) {
	srv := newServer(t)
	f := newFixture(t, testConfig(), newClient(t, srv.URL()))
	b := &beat{}
	b.set(checkpoint.Position{StartFrom: "1-0"})
	srv.Close()
	startRun(t, f.conn, b)
	w := f.clock.next(t)
	w.elapse()
	f.clock.next(t)
	if f.counter("ping_errors_total") != 2 {
		t.Fatalf("ping_errors_total = %d", f.counter("ping_errors_total"))
	}
}

func TestDeletedConnectorIsRegisteredAgain(t *testing.T) {
	// Run without Register stands for a connector deleted in OpenCTI: the
	// ping is refused, the next tick registers again and pings.
	srv := newServer(t)
	f := newFixture(t, testConfig(), newClient(t, srv.URL()))
	b := &beat{}
	b.set(checkpoint.Position{StartFrom: "1-0"})
	startRun(t, f.conn, b)
	w := f.clock.next(t)
	if f.counter("ping_errors_total") != 1 {
		t.Fatalf("ping_errors_total = %d", f.counter("ping_errors_total"))
	}
	w.elapse()
	f.clock.next(t)
	if n := len(requests(t, srv, "OpenctibeatRegisterConnector")); n != 1 {
		t.Fatalf("%d registrations, want 1", n)
	}
	if st, ok := srv.ConnectorState(testID); !ok || st != `{"start_from": "1-0"}` {
		t.Fatalf("OpenCTI holds %q", st)
	}
}

func TestDisabledWithoutID(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig()
	cfg.ID = ""
	f := newFixture(t, cfg, newClient(t, srv.URL()))
	if f.conn.Enabled() {
		t.Fatal("enabled without id")
	}
	if pos, ok, err := f.conn.Register(context.Background()); ok || err != nil || pos != (checkpoint.Position{}) {
		t.Fatalf("Register = %+v %v %v", pos, ok, err)
	}
	b := &beat{}
	b.set(checkpoint.Position{StartFrom: "1-0"})
	done := make(chan struct{})
	go func() { defer close(done); f.conn.Run(context.Background(), b.Acked, b.OnReset) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run of a disabled connector did not return")
	}
	if n := len(srv.GraphQLRequests()); n != 0 {
		t.Fatalf("%d GraphQL requests", n)
	}
	msgs := f.logs.FilterMessageSnippet("openctibeat.connector.id is not set").All()
	if len(msgs) != 1 || msgs[0].Level.String() != "info" {
		t.Fatalf("want one info line: %v", msgs)
	}
}

func TestOperationsValidate(t *testing.T) {
	// The documents the connector sends are opencti/api's; checked here too
	// so that a change there cannot break the connector unnoticed.
	for _, name := range []string{"OpenctibeatRegisterConnector", "OpenctibeatPingConnector"} {
		q, ok := api.Operations()[name]
		if !ok {
			t.Fatalf("opencti/api has no %s", name)
		}
		if errs := octiserver.ValidateQuery(q); len(errs) > 0 {
			t.Fatalf("%s: %v", name, strings.Join(errs, "; "))
		}
	}
}
