package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/internal/ctxsleep"
	"github.com/openctibeat/openctibeat/opencti"
)

// Message is one SSE message as received.
type Message struct {
	// ID is the message's own id ("<ms>-<seq>"); empty when it had none.
	ID    string
	Event string
	Data  []byte
	// Oversize, when positive, is the size in bytes of a message larger
	// than Config.MaxEventSize: its data was read past and dropped (Data is
	// nil); ID and Event are the message's own. The caller skips it.
	Oversize int
}

// Start is where a connection starts reading.
type Start struct {
	// From is sent as the Last-Event-ID header and the from parameter:
	// "0-0", "<ms>-<seq>" or an ISO date. Empty starts at the stream's end.
	From string
	// Recover, an ISO date, makes OpenCTI first replay the current state of
	// every object, then tail from that date. Needs From.
	Recover string
}

// StatusError is an HTTP error answered before streaming started.
type StatusError struct {
	Status int
	Reason string
}

func (e *StatusError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = ": the OpenCTI token is invalid or lacks access to this stream; check openctibeat.opencti.token"
	case http.StatusNotFound:
		hint = ": no such live stream; check openctibeat.stream.id against OpenCTI (Data > Data sharing > Live streams)"
	case http.StatusGone:
		hint = ": the live stream is stopped in OpenCTI; start it there (Data > Data sharing > Live streams)"
	case http.StatusBadRequest:
		hint = ": OpenCTI refused the stream options"
	default:
		if e.Status >= 500 {
			hint = ": OpenCTI failed; retrying"
		}
	}
	reason := e.Reason
	if reason == "" {
		reason = http.StatusText(e.Status)
	}
	return fmt.Sprintf("opencti stream answered HTTP %d (%s)%s", e.Status, reason, hint)
}

// Permanent reports whether retrying without a configuration change cannot help.
func (e *StatusError) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout
}

var errIdle = errors.New("no message from opencti within the idle timeout")

// Handler receives messages in stream order. It runs on the reading goroutine:
// when it returns, the message is handed over.
type Handler interface {
	// StartPoint tells where the next connection starts.
	StartPoint() Start
	// Handle receives one message.
	Handle(Message)
	// Connected is called when a connection was established.
	Connected()
	// Disconnected is called when a connection ended, with its cause.
	Disconnected(err error)
}

// Client reads the stream, reconnecting forever until its context ends.
type Client struct {
	conn    opencti.Config
	cfg     Config
	http    *http.Client
	log     *logp.Logger
	metrics *Metrics
	// clock and sleep are injected for tests.
	sleep func(ctx context.Context, d time.Duration) error
	// furthest is the furthest message id handed over (or started from)
	// so far; only Run's goroutine uses it.
	furthest eventID
}

// New builds a client from a validated configuration.
func New(conn opencti.Config, cfg Config, log *logp.Logger, metrics *Metrics) (*Client, error) {
	rt, err := conn.Transport.RoundTripper()
	if err != nil {
		return nil, fmt.Errorf("opencti stream transport (ssl/proxy settings): %w", err)
	}
	return &Client{
		conn: conn,
		cfg:  cfg,
		// No overall timeout: a stream stays open; the idle watchdog replaces dead ones.
		http:    &http.Client{Transport: rt},
		log:     log,
		metrics: metrics,
		sleep:   ctxsleep.Sleep,
	}, nil
}

// Run reads until ctx ends. It returns only ctx's error.
//
// The back-off between connections is reset only by a connection that got
// further than any before it: one that handed over a message whose id is
// past every id handed over before and past its start point. Being
// accepted is not enough: a server that accepts and then drops every
// connection, a message that ends every connection, or a recovery that
// starts again and ends at the same point each time, meet a growing wait
// instead of a reconnect at the initial interval forever. Heartbeats count:
// their id is the stream's, which moved.
func (c *Client) Run(ctx context.Context, h Handler) error {
	b := newBackoff(c.cfg.Backoff)
	for {
		start := h.StartPoint()
		progressed, err := c.connect(ctx, start, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if progressed {
			b.Reset()
		}
		h.Disconnected(err)
		c.metrics.reconnect()
		wait := b.NextBackOff()
		var se *StatusError
		if errors.As(err, &se) && se.Permanent() {
			wait = c.cfg.Backoff.Max
			c.log.Errorw("OpenCTI refused the live stream; retrying", "error", err, "retry_in", wait.String())
		} else {
			c.log.Warnw("live stream disconnected; reconnecting", "error", err, "from", start.From, "retry_in", wait.String())
		}
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// connect runs one connection; progressed tells whether it handed over a
// message with an id past c.furthest (which it moves).
func (c *Client) connect(ctx context.Context, start Start, h Handler) (progressed bool, err error) {
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	endpoint := c.cfg.endpoint(c.conn.BaseURL())
	q := []string{}
	if start.From != "" {
		q = append(q, "from="+url.QueryEscape(start.From))
	}
	if start.Recover != "" {
		q = append(q, "recover="+url.QueryEscape(start.Recover))
	}
	q = append(q, fmt.Sprintf("listen-delete=%t", c.cfg.ListenDelete),
		fmt.Sprintf("no-dependencies=%t", c.cfg.NoDependencies),
		fmt.Sprintf("with-inferences=%t", c.cfg.WithInferences))
	endpoint += "?" + strings.Join(q, "&")

	// completeEvents hands r3labs no message over MaxEventSize (oversize
	// ones become a small marker); r3labs' scanner may hold up to 3 more
	// bytes (a blank line it ended sooner than completeEvents), so its
	// limit, above both, never trips.
	client := sse.NewClient(endpoint, sse.ClientMaxBufferSize(c.cfg.MaxEventSize+4<<10))
	client.Connection = c.http
	client.ReconnectStrategy = &backoff.StopBackOff{}
	client.Headers["Authorization"] = "Bearer " + c.conn.Token.Reveal()
	client.Headers["Accept-Encoding"] = "identity"
	if start.From != "" {
		client.LastEventID.Store([]byte(start.From))
	}
	if from, ok := parseEventID(start.From); ok && c.furthest.less(from) {
		c.furthest = from
	}
	var once sync.Once
	client.ResponseValidator = func(_ *sse.Client, resp *http.Response) error {
		if resp.StatusCode == http.StatusOK {
			once.Do(h.Connected)
			// Only whole messages reach r3labs: a message cut by the end of
			// the connection is dropped, not handed over truncated.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{newCompleteEvents(resp.Body, c.cfg.MaxEventSize), resp.Body}
			return nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		reason := strings.TrimSpace(string(body))
		if reason == "" || strings.HasPrefix(reason, "<") {
			reason = strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
		}
		return backoff.Permanent(&StatusError{Status: resp.StatusCode, Reason: reason})
	}

	// The idle watchdog measures the server's silence: it is stopped while
	// the handler holds a message (back-pressure from the output is not a
	// dead connection), restarted in full by id-bearing messages (heartbeats
	// included) and with the time left by others.
	idle := time.AfterFunc(c.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	aliveAt := time.Now()

	err = client.SubscribeWithContext(connCtx, "", func(ev *sse.Event) {
		received := time.Now()
		idle.Stop()
		msg := Message{Event: string(ev.Event), Data: ev.Data}
		if len(ev.ID) > 0 && ev.Event != nil && string(ev.Event) != "connected" {
			msg.ID = string(ev.ID)
		}
		if msg.Event == oversizeEvent {
			msg = oversizeMessage(msg)
		}
		// r3labs gives id-less messages the previous id: only the
		// message's own id counts, and only id-bearing messages prove
		// that the connection is alive.
		alive := msg.ID != "" || msg.Event == "connected"
		if id, ok := parseEventID(msg.ID); ok && c.furthest.less(id) {
			c.furthest, progressed = id, true
		}
		h.Handle(msg)
		if alive {
			aliveAt = time.Now()
			idle.Reset(c.cfg.IdleTimeout)
			return
		}
		left := c.cfg.IdleTimeout - received.Sub(aliveAt)
		aliveAt = aliveAt.Add(time.Since(received)) // handling time is not silence
		idle.Reset(max(left, 0))
	})
	var perm *backoff.PermanentError
	if errors.As(err, &perm) {
		err = perm.Err
	}
	if cause := context.Cause(connCtx); cause != nil && ctx.Err() == nil {
		err = cause
	}
	if err == nil {
		err = io.EOF // a clean close by the server is a disconnect too
	}
	return progressed, err
}

// eventID is a stream message id "<ms>-<seq>" (a Redis stream id, as
// checkpoint.EventID, which this package does not import).
type eventID struct{ ms, seq uint64 }

// parseEventID parses "<ms>-<seq>"; ok is false for anything else (an
// empty id, a date): such ids are never past another.
func parseEventID(s string) (id eventID, ok bool) {
	ms, seq, found := strings.Cut(s, "-")
	if !found {
		return id, false
	}
	var err1, err2 error
	id.ms, err1 = strconv.ParseUint(ms, 10, 64)
	id.seq, err2 = strconv.ParseUint(seq, 10, 64)
	return id, err1 == nil && err2 == nil
}

func (a eventID) less(b eventID) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

// oversizeMessage turns a marker of completeEvents back into the message
// it stands for.
func oversizeMessage(marker Message) Message {
	var d oversizeData
	if err := json.Unmarshal(marker.Data, &d); err != nil || d.Bytes <= 0 {
		d.Bytes = max(len(marker.Data), 1) // a server's own message of that name
	}
	return Message{ID: marker.ID, Event: d.Event, Oversize: d.Bytes}
}

func newBackoff(cfg BackoffConfig) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = cfg.Init
	b.MaxInterval = cfg.Max
	b.MaxElapsedTime = 0 // never give up
	b.Reset()
	return b
}
