package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// chunkSize is how many bytes Server writes at a time.
const chunkSize = 64 << 10

// Server serves a Data as OpenCTI's live stream (any path under /stream,
// from=<id> or Last-Event-ID to resume) and records when each event was
// emitted: the time the write holding its last byte returned. Once the
// stream is written it sends a heartbeat every HeartbeatInterval, as
// OpenCTI does, and keeps the connection open.
type Server struct {
	data      *Data
	heartbeat time.Duration
	onStart   func()
	rate      float64

	emitted []atomic.Int64 // unix nanoseconds; 0 = not emitted
	start   atomic.Int64   // when the first connection started writing events
	conns   atomic.Int32

	ln   net.Listener
	srv  *http.Server
	url  string
	done chan struct{}
	once sync.Once
}

// ServerOptions configure NewServer.
type ServerOptions struct {
	// HeartbeatInterval defaults to 5s.
	HeartbeatInterval time.Duration
	// OnStart, if set, is called once, when the first connection is about to
	// write its first event.
	OnStart func()
	// GraphQL, if set, is the base URL of a server (the project's OpenCTI
	// test server) that /graphql is forwarded to, for what the beat asks
	// OpenCTI besides the stream.
	GraphQL string
	// Rate, if positive, paces the stream: event k (counted from the start
	// of the connection) is written at start + k/Rate, as a live stream
	// trickles. Zero writes as fast as the connection takes it (a backfill).
	Rate float64
}

// NewServer starts a server of d on 127.0.0.1.
func NewServer(d *Data, o ServerOptions) (*Server, error) {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{data: d, heartbeat: o.HeartbeatInterval, onStart: o.OnStart, rate: o.Rate,
		emitted: make([]atomic.Int64, d.N), ln: ln, url: "http://" + ln.Addr().String(), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", s.handle)
	mux.HandleFunc("/stream/", s.handle)
	if o.GraphQL != "" {
		u, err := url.Parse(o.GraphQL)
		if err != nil {
			ln.Close()
			return nil, err
		}
		mux.Handle("/graphql", httputil.NewSingleHostReverseProxy(u))
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the server's base URL (the beat's opencti.url).
func (s *Server) URL() string { return s.url }

// Emitted is when event i was emitted (unix nanoseconds), 0 if not yet.
func (s *Server) Emitted(i int) int64 {
	if i < 0 || i >= len(s.emitted) {
		return 0
	}
	return s.emitted[i].Load()
}

// Start is when the first connection started writing events (zero before).
func (s *Server) Start() time.Time {
	if ns := s.start.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Connections is the number of stream connections served so far.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Close stops the server and ends open streams.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
	})
}

// startIndex is the first event to send for a from / Last-Event-ID value.
func (s *Server) startIndex(r *http.Request) int {
	from := r.URL.Query().Get("from")
	if from == "" {
		from = r.Header.Get("Last-Event-ID")
	}
	switch from {
	case "", "0", "0-0":
		return 0
	}
	if i, ok := EventIndex(from); ok {
		return min(i+1, s.data.N)
	}
	return 0
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	s.conns.Add(1)
	first := s.startIndex(r)
	h := w.Header()
	h.Set("Connection", "keep-alive")
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	connected := `event: connected` + "\n" + `data: {"lastEventId":"` + s.data.LastID() + `","firstEventId":"` + EventID(0) +
		`","streamSize":` + strconv.Itoa(s.data.N) + `,"connectionId":"bench"}` + "\n\n"
	if _, err := w.Write([]byte(connected)); err != nil || rc.Flush() != nil {
		return
	}

	if first < s.data.N {
		if s.start.CompareAndSwap(0, time.Now().UnixNano()) && s.onStart != nil {
			s.onStart()
		}
	}
	if !s.write(w, rc, first) {
		return
	}

	last := s.data.LastID()
	t := time.NewTicker(s.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			hb := "id: " + last + "\nevent: heartbeat\ndata: \"" + time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + "\"\n\n"
			if _, err := w.Write([]byte(hb)); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// write sends events first.. (paced when Rate is set) and records their
// emission; false when the connection failed.
func (s *Server) write(w http.ResponseWriter, rc *http.ResponseController, first int) bool {
	off := 0
	if first > 0 {
		off = s.data.Ends[first-1]
	}
	start := time.Now()
	i := first
	for off < len(s.data.Bytes) {
		end := min(off+chunkSize, len(s.data.Bytes))
		if s.rate > 0 {
			// Everything due by now, at least one event.
			due := first + int(time.Since(start).Seconds()*s.rate) + 1
			due = min(max(due, i+1), s.data.N)
			end = min(end, s.data.Ends[due-1])
		}
		if _, err := w.Write(s.data.Bytes[off:end]); err != nil {
			return false
		}
		if rc.Flush() != nil {
			return false
		}
		now := time.Now().UnixNano()
		for i < s.data.N && s.data.Ends[i] <= end {
			s.emitted[i].Store(now)
			i++
		}
		off = end
		if s.rate > 0 && i < s.data.N {
			next := start.Add(time.Duration(float64(i-first) / s.rate * float64(time.Second)))
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-s.done:
					return false
				}
			}
		}
	}
	return true
}
