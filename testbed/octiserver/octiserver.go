// Package octiserver is the project's own OpenCTI test server: the live stream
// (Server-Sent Events at /stream and /stream/{id}) and the GraphQL endpoint
// (/graphql, validated against OpenCTI's real schema), modelled on OpenCTI
// 7.x: OpenCTI-Platform/opencti's
// opencti-platform/opencti-graphql/src/graphql/sseMiddleware.js and
// src/database/redis.ts (stream.go names the commit read and the function
// each behaviour follows).
//
// It is meant for tests, demos and benchmarks: events are held in memory,
// new ones are appended with Append and reach connected clients at once, and
// faults can be injected (DropConnections, DropAfter, SetFailure,
// SetConnectorState).
package octiserver

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// Event is one live-stream event.
type Event struct {
	// ID is the Redis stream id "<ms>-<seq>"; empty for events without id
	// (no "id:" line is sent then). Ids of the history should increase, as
	// Redis guarantees.
	ID string
	// Name is the SSE event name: "create", "update", "delete", "merge",
	// "heartbeat", "connected", ... or anything. Empty: no "event:" line.
	Name string
	// Data is the "data:" payload, one line. For create/update/delete/merge
	// it is the JSON envelope {version:"4", type, scope, message, origin,
	// data:<STIX>, event_id, context?} (see Envelope). A Data holding
	// newlines is sent as several "data:" lines.
	Data string
}

// Options configure a Server.
type Options struct {
	// Token is the required bearer token; "" accepts any request.
	Token string
	// StreamIDs are the live stream (stream collection) ids served at
	// /stream/{id}. "live" (OpenCTI's global live stream) and /stream (the
	// raw stream) are always served. An unknown id is answered like OpenCTI
	// does: 401 "You are not authorized, please check your credentials".
	StreamIDs []string
	// StoppedStreams are stream ids that exist but are stopped: 410
	// "This live stream is stopped".
	StoppedStreams []string
	// Events is the initial history.
	Events []Event
	// HeartbeatInterval is the period of each connection's heartbeat
	// timer (OpenCTI's app:live_stream:heartbeat_period); default 5s.
	HeartbeatInterval time.Duration
	// Objects are in the platform's database from the start, without a
	// stream event (see AddObjects).
	Objects []any
	// Delay is the default of the stream's "delay" option: the time the
	// platform waits after each dependency sent, each recovery page and
	// each Redis batch. Default 0.
	Delay time.Duration
	// RecoveryPageSize is the number of objects a recovery lists a page;
	// default 500.
	RecoveryPageSize int
	// OnRecoveryPage, when set, is called on the connection's goroutine
	// between the listing of each recovery page and the load of its
	// objects (page counts from 0): a test can change objects there, as
	// users change the platform during a recovery.
	OnRecoveryPage func(page int)
	// BatchTime is how long the Redis reader blocks for new events before
	// handing over an empty batch (STREAM_BATCH_TIME); default 5s.
	BatchTime time.Duration
	// CacheSize is the size of each connection's cache of objects sent
	// (app:live_stream:cache_max_size); default 5000.
	CacheSize int
	// Schema is the path of a relay.schema.graphql; default: the embedded
	// copy of OpenCTI 7.260817.0's schema.
	Schema string
	// Clock gives the current time; default time.Now.
	Clock func() time.Time
}

// StreamRequest records one stream connection attempt.
type StreamRequest struct {
	Path     string // URL path
	StreamID string // "" for the raw stream /stream
	Time     time.Time
	AuthOK   bool
	// Status is the HTTP status answered (200 for a stream that was opened)
	// and StatusText its reason phrase.
	Status     int
	StatusText string

	// Raw options, as sent: LastEventID is the Last-Event-ID header; the
	// others are query parameters (From, Recover, ListenDelete,
	// NoDependencies, WithInferences) — see Query and Header for the rest.
	LastEventID    string
	From           string
	Recover        string
	ListenDelete   string
	NoDependencies string
	WithInferences string
	Query          url.Values
	Header         http.Header

	// Effective options, as the server understood them (OpenCTI reads each
	// option from the query parameter, then from the header of the same
	// name; "from" also from Last-Event-ID, "recover" also from the
	// recover-date header).
	StartParam    string // raw start point used ("" = none: only new events)
	StartID       string // start point as a stream id ("0-0", "<ms>-<seq>"); "" = live from now
	RecoverID     string // recovery point as a stream id; "" = no recovery
	Recovered     int    // number of synthetic create events replayed
	RecoveryDone  bool   // the recovery was sent whole (the reader then tails)
	Sent          int    // messages with an id sent (dependencies included; heartbeats not), as counted for DropAfter
	ListenDeletes bool   // false when listen-delete=false (live streams only)
	Inferences    bool   // with-inferences=true
	NoDeps        bool   // no-dependencies=true (or no-relationships=true)
	ConnectionID  string // connectionId sent in the connected event
}

// GraphQLRequest records one GraphQL request.
type GraphQLRequest struct {
	Time          time.Time
	AuthOK        bool
	OperationName string // as sent
	OperationType string // "query", "mutation", "subscription"; "" when the document did not parse
	Query         string
	Variables     map[string]any
	// Fields are the root field names of the selected operation.
	Fields []string
	// ValidationErrors are the parse, validation and variable errors.
	ValidationErrors []string
	// Errors are all the error messages of the response.
	Errors []string
}

type failure struct {
	status int
	reason string
	times  int
}

type connector struct {
	ID             string
	Registered     bool
	Name           string
	Type           string
	Scope          []string
	Auto           any
	OnlyContextual any
	State          any // string or nil
	StateReset     bool
	Info           any
	CreatedAt      string
	UpdatedAt      string
}

// Server is a running OpenCTI test server.
type Server struct {
	opts      Options
	clock     func() time.Time
	heartbeat time.Duration
	schema    *ast.Schema
	streamIDs map[string]bool
	stopped   map[string]bool

	ln      net.Listener
	httpSrv *http.Server
	url     string

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	batchTime time.Duration
	pageSize  int
	cacheSize int

	mu         sync.RWMutex
	history    []storedEvent
	base       int // absolute index of history[0] (events trimmed before it)
	db         *database
	lastKey    idKey // key of the last event with an id
	idCount    int   // number of events with an id (Redis stream length)
	firstID    string
	lastID     string
	issued     idKey // last id handed out by NextID
	notify     chan struct{}
	conns      map[*streamConn]struct{}
	dropAfter  int
	failure    failure
	streamReqs []StreamRequest
	gqlReqs    []GraphQLRequest
	resolvers  map[string]func(GraphQLCall) (any, []string)
	connectors map[string]*connector
}

type connKey struct{}

// New starts a server on 127.0.0.1 with a random port, like httptest.
func New(opts Options) (*Server, error) {
	return Serve("127.0.0.1:0", opts)
}

// Serve starts a server listening on addr.
func Serve(addr string, opts Options) (*Server, error) {
	schema, err := loadSchema(opts.Schema)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:       opts,
		clock:      opts.Clock,
		heartbeat:  opts.HeartbeatInterval,
		schema:     schema,
		streamIDs:  map[string]bool{},
		stopped:    map[string]bool{},
		done:       make(chan struct{}),
		notify:     make(chan struct{}),
		conns:      map[*streamConn]struct{}{},
		dropAfter:  -1,
		resolvers:  map[string]func(GraphQLCall) (any, []string){},
		connectors: map[string]*connector{},
		db:         newDatabase(),
		batchTime:  opts.BatchTime,
		pageSize:   opts.RecoveryPageSize,
		cacheSize:  opts.CacheSize,
	}
	if s.batchTime <= 0 {
		s.batchTime = 5 * time.Second
	}
	if s.pageSize <= 0 {
		s.pageSize = 500
	}
	if s.cacheSize <= 0 {
		s.cacheSize = 5000
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.heartbeat <= 0 {
		s.heartbeat = 5 * time.Second
	}
	for _, id := range opts.StreamIDs {
		s.streamIDs[id] = true
	}
	for _, id := range opts.StoppedStreams {
		s.stopped[id] = true
	}
	s.registerDefaultResolvers()
	if err := s.AddObjects(opts.Objects...); err != nil {
		return nil, err
	}
	s.appendLocked(opts.Events)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("octiserver: listen %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", s.handleStream)
	mux.HandleFunc("/stream/", s.handleStream)
	mux.HandleFunc("/graphql", s.handleGraphQL)
	s.httpSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go func() { _ = s.httpSrv.Serve(ln) }()
	return s, nil
}

// URL is the base URL of the server, "http://127.0.0.1:<port>".
func (s *Server) URL() string { return s.url }

// Close stops the server: open streams end at once (their connections are
// closed) and Close waits for the stream handlers to return.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.httpSrv.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.kill()
		}
		s.mu.Unlock()
		waited := make(chan struct{})
		go func() { s.wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
		}
	})
}

// Append adds events to the history; connected clients receive them at
// once (if their options let them through).
func (s *Server) Append(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	s.appendLocked(evs)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// NextID returns a new stream id "<ms>-<seq>" greater than every id of the
// history and every id NextID returned before, based on the Clock, like
// Redis's XADD "*".
func (s *Server) NextID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.lastKey
	if s.issued.after(last) {
		last = s.issued
	}
	now := uint64(max(s.clock().UnixMilli(), 0))
	k := idKey{ms: now}
	if !k.after(last) {
		k = idKey{ms: last.ms, seq: last.seq + 1}
	}
	s.issued = k
	return k.String()
}

// DropConnections abruptly closes every open stream connection (the TCP
// connection is closed by the server, without the end of the chunked body).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.kill()
	}
}

// DropAfter makes the next stream connection drop (abruptly, server side)
// after it has sent n messages with an id (events from the history,
// dependencies and recovered objects; the connected event and heartbeats
// do not count). n <= 0 drops right
// after the connected event.
func (s *Server) DropAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAfter = max(n, 0)
}

// SetFailure makes the next `times` stream connection attempts fail with
// status (401, 410, 500, ...) and reason as HTTP reason phrase, with an empty
// body, as OpenCTI does. An empty reason picks OpenCTI's text for the status.
func (s *Server) SetFailure(status int, reason string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = failure{status: status, reason: reason, times: times}
}

// OpenStreams is the number of stream connections currently open.
func (s *Server) OpenStreams() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.conns)
}

// StreamRequests returns the stream connection attempts so far.
func (s *Server) StreamRequests() []StreamRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]StreamRequest(nil), s.streamReqs...)
}

// GraphQLRequests returns the GraphQL requests so far.
func (s *Server) GraphQLRequests() []GraphQLRequest {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]GraphQLRequest(nil), s.gqlReqs...)
}

// History returns a copy of the stream history.
func (s *Server) History() []Event {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Event, len(s.history))
	for i := range s.history {
		out[i] = s.history[i].Event
	}
	return out
}

func (s *Server) authOK(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return strings.TrimSpace(h[len(prefix):]) == s.opts.Token
}

// writeStatus answers status with a custom reason phrase and an empty body,
// like Express's res.statusMessage = ...; res.status(n).end(). net/http
// cannot set a reason phrase, so the connection is hijacked.
func writeStatus(w http.ResponseWriter, status int, reason string) {
	reason = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, reason)
	if reason == "" {
		reason = http.StatusText(status)
	}
	rc := http.NewResponseController(w)
	conn, bufrw, err := rc.Hijack()
	if err != nil {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	defer conn.Close()
	_, _ = fmt.Fprintf(bufrw, "HTTP/1.1 %03d %s\r\nX-Powered-By: Express\r\nAccess-Control-Allow-Origin: *\r\nDate: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		status, reason, time.Now().UTC().Format(http.TimeFormat))
	_ = bufrw.Flush()
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
