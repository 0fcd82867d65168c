package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	graphql "github.com/hasura/go-graphql-client"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/internal/ctxsleep"
	"github.com/openctibeat/openctibeat/opencti"
)

// Retry defaults: 5 retries, 500ms doubling up to 30s (about 15s of waits
// in all), and never past RetryBound request timeouts.
const (
	DefaultRetries      = 5
	DefaultBackoffInit  = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	userAgent           = "openctibeat"
	maxErrorBodyInError = 512
)

// RetryBound is how many request timeouts (opencti.timeout, which bounds
// each request) one call may take in all, its retries included: a retry
// starts only if it can end within RetryBound × timeout of the call's
// start. With 3, a read against a hung OpenCTI is tried twice (one retry
// after a request lost for the whole timeout), and one that fails fast
// (5xx, refused) gets every retry of the back-off as long as the timeout is
// not tiny; at the default 90s a call gives up within 4.5 minutes (it
// could take 6 × 90s plus the waits, 9.3 minutes, before). 2 would leave no
// room for a retry after a hang.
const RetryBound = 3

// Client talks to OpenCTI's GraphQL API. It is safe for concurrent use.
type Client struct {
	gql         *graphql.Client
	log         *logp.Logger
	retries     int
	backoffInit time.Duration
	backoffMax  time.Duration
	// timeout is opencti.timeout, the limit of each request (0: none).
	timeout time.Duration
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
}

// Option changes a Client built by New.
type Option func(*Client)

// WithRetry sets how many times a request failing with a transient
// *TransportError is retried, and the exponential back-off between tries
// (retries stop earlier when one could not end within RetryBound × timeout).
func WithRetry(retries int, init, maxDelay time.Duration) Option {
	return func(c *Client) {
		c.retries = max(retries, 0)
		if init > 0 {
			c.backoffInit = init
		}
		if maxDelay >= c.backoffInit {
			c.backoffMax = maxDelay
		}
	}
}

// WithClock replaces the clock the retry bound is measured with, and the
// (context-aware) sleep between tries; for tests.
func WithClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
		if sleep != nil {
			c.sleep = sleep
		}
	}
}

// WithLogger logs retries at debug level.
func WithLogger(log *logp.Logger) Option {
	return func(c *Client) { c.log = log }
}

// New builds a client of cfg's OpenCTI: {url}/graphql, the bearer token, and
// cfg.Transport's TLS, proxy and timeout settings.
func New(cfg opencti.Config, opts ...Option) (*Client, error) {
	httpClient, err := cfg.Transport.Client()
	if err != nil {
		return nil, fmt.Errorf("opencti graphql transport (ssl/proxy settings): %w", err)
	}
	token := cfg.Token.Reveal()
	gql := graphql.NewClient(cfg.BaseURL()+"/graphql", httpClient).
		WithRequestModifier(func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Accept", "application/json")
			r.Header.Set("User-Agent", userAgent)
		})
	c := &Client{
		gql:         gql,
		log:         logp.NewNopLogger(),
		retries:     DefaultRetries,
		backoffInit: DefaultBackoffInit,
		backoffMax:  DefaultBackoffMax,
		timeout:     cfg.Transport.Timeout,
		now:         time.Now,
		sleep:       ctxsleep.Sleep,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// About returns OpenCTI's version; a cheap way to check URL and token.
func (c *Client) About(ctx context.Context) (string, error) {
	var out struct {
		About *struct {
			Version string `json:"version"`
		} `json:"about"`
	}
	if err := c.exec(ctx, opAbout, nil, &out, true); err != nil {
		return "", err
	}
	if out.About == nil {
		return "", fmt.Errorf("opencti graphql %s: %w: about is null", opAbout.name, errDecode)
	}
	return out.About.Version, nil
}

// exec sends op with vars and decodes the data object into out. With retry,
// transient transport errors are retried with back-off until the retries are
// spent, a retry could not end within RetryBound × timeout of the start (see
// RetryBound), or ctx ends.
func (c *Client) exec(ctx context.Context, op operation, vars map[string]any, out any, retry bool) error {
	if vars == nil {
		vars = map[string]any{}
	}
	b := c.newBackOff()
	for attempt := 1; ; attempt++ {
		data, err := c.gql.ExecRaw(ctx, op.query, vars, graphql.OperationName(op.name))
		if err == nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("opencti graphql %s: %w: %v", op.name, errDecode, err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("opencti graphql %s: %w", op.name, ctx.Err())
		}
		cerr := classify(op.name, err)
		if !retry || !IsTransient(cerr) {
			return cerr
		}
		d := b.NextBackOff()
		switch {
		case attempt > c.retries:
			return c.gaveUp(cerr, attempt, b, "the retries are spent")
		case d == backoff.Stop || (b.MaxElapsedTime > 0 && b.GetElapsedTime()+d > b.MaxElapsedTime):
			return c.gaveUp(cerr, attempt, b, fmt.Sprintf("a retry could not end within %d × opencti.timeout (%s)", RetryBound, time.Duration(RetryBound)*c.timeout))
		}
		c.log.Debugw("retrying opencti graphql request", "operation", op.name, "attempt", attempt, "delay", d, "error", cerr)
		if err := c.sleep(ctx, d); err != nil {
			return fmt.Errorf("opencti graphql %s: %w (last error: %v)", op.name, err, cerr)
		}
	}
}

// newBackOff is the back-off of one call: delays from backoffInit doubling
// up to backoffMax, no jitter; the next try must start by (RetryBound-1) ×
// timeout (it then ends, bounded by the timeout, by RetryBound × timeout).
func (c *Client) newBackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: c.backoffInit,
		Multiplier:      2,
		MaxInterval:     c.backoffMax,
		MaxElapsedTime:  time.Duration(RetryBound-1) * c.timeout,
		Clock:           clockFunc(c.now),
	}
	b.Reset()
	return b
}

// gaveUp wraps the last error of a call that was tried more than once.
func (c *Client) gaveUp(last error, attempts int, b *backoff.ExponentialBackOff, why string) error {
	if attempts == 1 {
		return last
	}
	return fmt.Errorf("%w (gave up after %d attempts in %s: %s)", last, attempts, b.GetElapsedTime().Round(time.Millisecond), why)
}

// clockFunc is a backoff.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// classify turns the library's errors into *TransportError or *GraphQLError.
func classify(opName string, err error) error {
	var gerrs graphql.Errors
	if !errors.As(err, &gerrs) || len(gerrs) == 0 {
		return &TransportError{Operation: opName, Err: err}
	}
	first := gerrs[0]
	code, _ := first.Extensions["code"].(string)
	switch code {
	case graphql.ErrRequestError:
		var ne graphql.NetworkError
		if errors.As(first.Unwrap(), &ne) {
			// Apollo answers documents it rejects with 400 and a GraphQL
			// body: report those as GraphQL errors.
			if g := parseErrorBody(opName, ne.StatusCode(), ne.Body()); g != nil {
				return g
			}
			return &TransportError{Operation: opName, StatusCode: ne.StatusCode(), Body: truncate(ne.Body()), Err: ne}
		}
		return &TransportError{Operation: opName, Err: first.Unwrap()}
	case graphql.ErrJsonDecode:
		// A 200 whose body is not JSON: a proxy or a server in trouble.
		return &TransportError{Operation: opName, StatusCode: http.StatusOK, Err: first.Unwrap()}
	}
	g := &GraphQLError{Operation: opName, StatusCode: http.StatusOK}
	for _, e := range gerrs {
		c, _ := e.Extensions["code"].(string)
		g.Errors = append(g.Errors, ErrorEntry{Message: e.Message, Code: c})
	}
	return g
}

func parseErrorBody(opName string, status int, body string) *GraphQLError {
	var resp struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(bytes.NewBufferString(body)).Decode(&resp); err != nil || len(resp.Errors) == 0 {
		return nil
	}
	g := &GraphQLError{Operation: opName, StatusCode: status}
	for _, e := range resp.Errors {
		c, _ := e.Extensions["code"].(string)
		g.Errors = append(g.Errors, ErrorEntry{Message: e.Message, Code: c})
	}
	return g
}

func truncate(s string) string {
	if len(s) > maxErrorBodyInError {
		return s[:maxErrorBodyInError] + "..."
	}
	return s
}
