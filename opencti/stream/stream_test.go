package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/elastic-agent-libs/logp/logptest"
	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/opencti"
)

// recorder is a Handler that records what it is given and resumes from the
// last id received.
type recorder struct {
	mu      sync.Mutex
	last    string
	msgs    []Message
	errs    []error
	conns   int
	onMsg   func(Message)
	recover string
	restart bool // every connection starts where the first did (a recovery redone)
}

func (r *recorder) StartPoint() Start {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.restart {
		return Start{Recover: r.recover}
	}
	return Start{From: r.last, Recover: r.recover}
}

func (r *recorder) Handle(m Message) {
	r.mu.Lock()
	if m.ID != "" {
		r.last = m.ID
	}
	r.msgs = append(r.msgs, m)
	fn := r.onMsg
	r.mu.Unlock()
	if fn != nil {
		fn(m)
	}
}

func (r *recorder) Connected() { r.mu.Lock(); r.conns++; r.mu.Unlock() }

func (r *recorder) Disconnected(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }

func (r *recorder) snapshot() ([]Message, []error, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...), append([]error(nil), r.errs...), r.conns
}

func testClient(t *testing.T, url string, mut func(*Config)) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Backoff = BackoffConfig{Init: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	if mut != nil {
		mut(&cfg)
	}
	conn := opencti.DefaultConfig()
	conn.URL, conn.Token = url, "secret-token"
	c, err := New(conn, cfg, logptest.NewTestingLogger(t, ""), NewMetrics(monitoring.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeEvent(w http.ResponseWriter, id, name, data string) {
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	w.(http.Flusher).Flush()
}

// TestReconnectResumes checks ordering, the request the client makes, and
// that a connection the server closes is resumed with Last-Event-ID.
func TestReconnectResumes(t *testing.T) {
	type req struct{ path, auth, lastID, from, listenDelete string }
	var mu sync.Mutex
	var reqs []req
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(reqs)
		reqs = append(reqs, req{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from"), r.URL.Query().Get("listen-delete")})
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, "", "connected", `{"lastEventId":"3-0"}`)
		if n == 0 {
			writeEvent(w, "1-0", "create", `{"a":1}`)
			writeEvent(w, "2-0", "update", `{"a":2}`)
			return // server closes: the client must resume after 2-0
		}
		writeEvent(w, "3-0", "delete", `{"a":3}`)
		<-r.Context().Done()
	}))
	defer srv.Close()

	rec := &recorder{last: "0-0"}
	c := testClient(t, srv.URL, func(c *Config) { c.ID = "live-1" })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()
	waitFor(t, "3 data events", func() bool { m, _, _ := rec.snapshot(); return len(m) >= 5 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	msgs, errs, conns := rec.snapshot()
	var got []string
	for _, m := range msgs {
		got = append(got, m.Event+"/"+m.ID)
	}
	want := "connected//create/1-0/update/2-0/connected//delete/3-0"
	if strings.Join(got, "/") != want {
		t.Fatalf("messages %v, want %s", got, want)
	}
	if conns != 2 || len(errs) != 1 {
		t.Fatalf("connections %d, disconnects %v", conns, errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if reqs[0].path != "/stream/live-1" || reqs[0].auth != "Bearer secret-token" || reqs[0].lastID != "0-0" || reqs[0].from != "0-0" || reqs[0].listenDelete != "true" {
		t.Fatalf("first request %+v", reqs[0])
	}
	if reqs[1].lastID != "2-0" || reqs[1].from != "2-0" {
		t.Fatalf("resume request %+v, want Last-Event-ID 2-0", reqs[1])
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		permanent bool
		hint      string
	}{
		{http.StatusUnauthorized, "", true, "token"},
		{http.StatusGone, "stream is stopped", true, "stopped"},
		{http.StatusNotFound, "", true, "no such live stream"},
		{http.StatusInternalServerError, "boom", false, "OpenCTI failed"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, tt.body, tt.status)
			}))
			defer srv.Close()
			rec := &recorder{}
			c := testClient(t, srv.URL, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- c.Run(ctx, rec) }()
			waitFor(t, "a disconnect", func() bool { _, e, _ := rec.snapshot(); return len(e) > 0 })
			cancel()
			<-done
			_, errs, conns := rec.snapshot()
			var se *StatusError
			if !errors.As(errs[0], &se) || se.Status != tt.status || se.Permanent() != tt.permanent {
				t.Fatalf("error %v", errs[0])
			}
			if !strings.Contains(se.Error(), tt.hint) || (tt.body != "" && !strings.Contains(se.Error(), tt.body)) {
				t.Fatalf("error %q lacks %q / %q", se.Error(), tt.hint, tt.body)
			}
			if strings.Contains(se.Error(), "secret-token") {
				t.Fatal("token in error")
			}
			if conns != 0 {
				t.Fatalf("counted %d connections", conns)
			}
		})
	}
}

// TestIdleTimeout: a connection that stops sending is replaced.
func TestIdleTimeout(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, "", "connected", `{}`)
		writeEvent(w, "5-0", "heartbeat", `"2024-01-01T00:00:00Z"`)
		<-r.Context().Done() // then silence
	}))
	defer srv.Close()
	rec := &recorder{}
	c := testClient(t, srv.URL, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()
	waitFor(t, "a second connection", func() bool { mu.Lock(); defer mu.Unlock(); return n >= 2 })
	cancel()
	<-done
	_, errs, _ := rec.snapshot()
	if len(errs) == 0 || !errors.Is(errs[0], errIdle) {
		t.Fatalf("disconnect causes %v, want the idle timeout", errs)
	}
}

// TestLargeMessage: messages above r3labs' default 64 KiB buffer pass.
func TestLargeMessage(t *testing.T) {
	big := `{"x":"` + strings.Repeat("a", 200<<10) + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, "1-0", "create", big)
		<-r.Context().Done()
	}))
	defer srv.Close()
	rec := &recorder{}
	c := testClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()
	waitFor(t, "the large message", func() bool { m, _, _ := rec.snapshot(); return len(m) == 1 })
	cancel()
	<-done
	m, _, _ := rec.snapshot()
	if string(m[0].Data) != big {
		t.Fatalf("data of %d bytes, want %d", len(m[0].Data), len(big))
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"slash in id", func(c *Config) { c.ID = "a/b" }, "openctibeat.stream.id"},
		{"idle too short", func(c *Config) { c.IdleTimeout = time.Second }, "idle_timeout"},
		{"backoff inverted", func(c *Config) { c.Backoff.Max = time.Millisecond }, "backoff"},
		{"tiny buffer", func(c *Config) { c.MaxEventSize = 10 }, "max_event_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want mention of %s", err, tt.want)
			}
		})
	}
}

// TestCutMessageNotHandedOver: a connection that ends in the middle of a
// message does not deliver the cut message; the reconnect resumes after
// the last whole message and receives it whole.
func TestCutMessageNotHandedOver(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(lastIDs)
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 0 {
			writeEvent(w, "1-0", "create", `{"a":1}`)
			fmt.Fprint(w, "id: 2-0\nevent: update\ndata: {\"a\":") // cut here
			w.(http.Flusher).Flush()
			return
		}
		writeEvent(w, "2-0", "update", `{"a":2}`)
		<-r.Context().Done()
	}))
	defer srv.Close()
	rec := &recorder{last: "0-0"}
	c := testClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()
	waitFor(t, "the update, whole", func() bool { m, _, _ := rec.snapshot(); return len(m) >= 2 })
	cancel()
	<-done
	msgs, _, _ := rec.snapshot()
	for _, m := range msgs {
		if m.ID == "2-0" && string(m.Data) != `{"a":2}` {
			t.Fatalf("a cut message was handed over: %q", m.Data)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if lastIDs[1] != "1-0" {
		t.Fatalf("resumed from %q, want 1-0", lastIDs[1])
	}
}

// TestSlowHandlerIsNotIdle: a handler blocked longer than the idle timeout
// (back-pressure from the output) does not make the connection idle.
func TestSlowHandlerIsNotIdle(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, "1-0", "create", `{}`)
		writeEvent(w, "2-0", "create", `{}`)
		<-r.Context().Done()
	}))
	defer srv.Close()
	rec := &recorder{}
	rec.onMsg = func(m Message) {
		if m.ID == "1-0" {
			time.Sleep(600 * time.Millisecond) // three idle timeouts
		}
	}
	c := testClient(t, srv.URL, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()
	waitFor(t, "both messages", func() bool { m, _, _ := rec.snapshot(); return len(m) >= 2 })
	cancel()
	<-done
	msgs, _, _ := rec.snapshot()
	if msgs[1].ID != "2-0" {
		t.Fatalf("messages %+v", msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("%d connections: the slow handler was taken for an idle connection", conns)
	}
}

// TestOversizeMessageSkipped: a message over max_event_size is handed over
// in its place with its id and event name, marked oversize and without its
// data, and the stream goes on on the same connection.
func TestOversizeMessageSkipped(t *testing.T) {
	const limit = 64 << 10
	huge := `{"x":"` + strings.Repeat("a", limit) + `"}`
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		writeEvent(w, "", "connected", `{}`)
		writeEvent(w, "1-0", "create", `{"a":1}`)
		writeEvent(w, "2-0", "update", huge)
		writeEvent(w, "3-0", "delete", `{"a":3}`)
		<-r.Context().Done()
	}))
	defer srv.Close()
	rec := &recorder{}
	c := testClient(t, srv.URL, func(c *Config) { c.MaxEventSize = limit })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()
	waitFor(t, "the message after the oversize one", func() bool {
		m, _, _ := rec.snapshot()
		return len(m) > 0 && m[len(m)-1].ID == "3-0"
	})
	cancel()
	<-done
	msgs, errs, _ := rec.snapshot()
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%s/%s/%d/%q", m.ID, m.Event, m.Oversize, m.Data))
	}
	size := len("id: 2-0\nevent: update\ndata: \n\n") + len(huge)
	want := []string{`/connected/0/"{}"`, `1-0/create/0/"{\"a\":1}"`, fmt.Sprintf(`2-0/update/%d/""`, size), `3-0/delete/0/"{\"a\":3}"`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("messages\n%v\nwant\n%v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 || len(errs) != 0 {
		t.Fatalf("%d connections, disconnects %v: the oversize message broke the connection", conns, errs)
	}
}

// TestMessageAtTheLimit: a message of exactly max_event_size bytes passes
// whole, even after a stray line end that r3labs counts in the next
// message: r3labs' own buffer limit is not the one that trips.
func TestMessageAtTheLimit(t *testing.T) {
	const limit = 64 << 10
	head := "id: 2-0\nevent: create\ndata: "
	data := strings.Repeat("a", limit-len(head)-2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1-0\nevent: create\ndata: {}\n\n\n") // one line end too many
		fmt.Fprint(w, head+data+"\n\n")
		writeEvent(w, "3-0", "delete", `{}`)
		<-r.Context().Done()
	}))
	defer srv.Close()
	rec := &recorder{}
	c := testClient(t, srv.URL, func(c *Config) { c.MaxEventSize = limit })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, rec) }()
	waitFor(t, "three messages or a disconnect", func() bool { m, e, _ := rec.snapshot(); return len(m) >= 3 || len(e) > 0 })
	cancel()
	<-done
	msgs, errs, _ := rec.snapshot()
	if len(errs) != 0 || len(msgs) != 3 || msgs[1].ID != "2-0" || string(msgs[1].Data) != data || msgs[1].Oversize != 0 {
		t.Fatalf("got %d messages, disconnects %v", len(msgs), errs)
	}
}

func TestOversizeMessage(t *testing.T) {
	tests := []struct {
		name   string
		marker Message
		want   Message
	}{
		{"marker", Message{ID: "2-0", Event: oversizeEvent, Data: []byte(`{"event":"update","bytes":70000}`)}, Message{ID: "2-0", Event: "update", Oversize: 70000}},
		{"a server's message of that name", Message{ID: "3-0", Event: oversizeEvent, Data: []byte(`hello`)}, Message{ID: "3-0", Oversize: 5}},
		{"a server's message without data", Message{ID: "4-0", Event: oversizeEvent}, Message{ID: "4-0", Oversize: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oversizeMessage(tt.marker); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestBackoffResetsOnProgress: the wait between connections goes back to
// the initial interval only after a connection that handed over a message
// past every one before; connections that are accepted and then deliver
// nothing new meet a growing wait.
func TestBackoffResetsOnProgress(t *testing.T) {
	const init = 10 * time.Millisecond
	tests := []struct {
		name string
		// serve writes connection n's messages (n from 0); the server then
		// closes the connection.
		serve    func(w http.ResponseWriter, n int)
		recover  bool // the handler starts each connection from the start
		progress bool // every connection progresses
	}{
		{"accepted then dropped", func(w http.ResponseWriter, _ int) { writeEvent(w, "", "connected", `{}`) }, false, false},
		{"the same message each time", func(w http.ResponseWriter, _ int) { writeEvent(w, "5-0", "create", `{}`) }, false, false},
		{"a heartbeat at the start point", func(w http.ResponseWriter, _ int) { writeEvent(w, "5-0", "heartbeat", `"x"`) }, false, false},
		{"a recovery ending at the same point", func(w http.ResponseWriter, _ int) {
			for _, id := range []string{"1-0", "2-0", "3-0"} {
				writeEvent(w, id, "create", `{}`)
			}
		}, true, false},
		{"a new message each time", func(w http.ResponseWriter, n int) { writeEvent(w, fmt.Sprintf("%d-0", n+1), "create", `{}`) }, false, true},
		{"a new heartbeat each time", func(w http.ResponseWriter, n int) { writeEvent(w, fmt.Sprintf("%d-1", n+1), "heartbeat", `"x"`) }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				w.Header().Set("Content-Type", "text/event-stream")
				tt.serve(w, i)
			}))
			defer srv.Close()
			rec := &recorder{restart: tt.recover}
			c := testClient(t, srv.URL, func(c *Config) { c.Backoff = BackoffConfig{Init: init, Max: 100 * init} })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var waits []time.Duration
			c.sleep = func(ctx context.Context, d time.Duration) error {
				if waits = append(waits, d); len(waits) == 8 {
					cancel()
				}
				return ctx.Err()
			}
			if err := c.Run(ctx, rec); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run returned %v", err)
			}
			// The initial interval is randomised by up to 50%; after seven
			// steps of 1.5 without reset the wait is at least 8 times it.
			last := waits[len(waits)-1]
			if tt.progress && last > init*3/2 {
				t.Fatalf("waits %v: a connection that made progress did not reset the back-off", waits)
			}
			if !tt.progress && last < 8*init {
				t.Fatalf("waits %v: connections that delivered nothing new reset the back-off", waits)
			}
		})
	}
}
