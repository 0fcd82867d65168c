package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/elastic-agent-libs/monitoring"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// Registration back-off bounds.
const (
	registerBackoffInit = time.Second
	registerBackoffMax  = time.Minute
)

// API is what the connector needs from OpenCTI's GraphQL API.
type API interface {
	RegisterConnector(ctx context.Context, r api.ConnectorRegistration) (api.Connector, error)
	PingConnector(ctx context.Context, id string, state *string, info *api.ConnectorInfo) (api.Connector, error)
}

var _ API = (*api.Client)(nil)

// Clock gives the waits between pings and between registration attempts.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Connector registers the beat in OpenCTI and pings it with the
// acknowledged stream position.
type Connector struct {
	cfg     Config
	api     API
	log     *logp.Logger
	metrics *metrics
	clock   Clock

	disabledOnce sync.Once

	// Run's own state (Run is not meant to run concurrently with itself).
	lastSent   checkpoint.Position // the state sent by the last answered ping
	sentBefore bool
	reregister bool // the last ping got a GraphQL error: register first
}

// New builds a connector. client is normally an *api.Client; reg receives
// pings_total, ping_errors_total and resets_total (nil: not counted); a nil
// clock is SystemClock.
func New(cfg Config, client API, log *logp.Logger, reg *monitoring.Registry, clock Clock) *Connector {
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = logp.NewNopLogger()
	}
	if cfg.Type == "" {
		cfg.Type = TypeStream
	}
	cfg.Type = strings.ToUpper(strings.TrimSpace(cfg.Type))
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultConfig().PingInterval
	}
	return &Connector{
		cfg:     cfg,
		api:     client,
		log:     log.With("connector_id", cfg.ID),
		metrics: newMetrics(reg),
		clock:   clock,
	}
}

// Enabled reports whether a connector id is configured.
func (c *Connector) Enabled() bool { return c.cfg.Enabled() }

func (c *Connector) logDisabled() {
	c.disabledOnce.Do(func() {
		c.log.Info("openctibeat.connector.id is not set: the beat does not register as an OpenCTI connector nor report its position there; set it to a UUID (the Python connector's CONNECTOR_ID to take over its entry) to see the beat in OpenCTI's connector list")
	})
}

func (c *Connector) registration() api.ConnectorRegistration {
	return api.ConnectorRegistration{ID: c.cfg.ID, Name: c.cfg.Name, Type: c.cfg.Type, Scope: c.cfg.Scopes()}
}

// Register registers the connector (type STREAM, id, name, scope) and
// returns the state OpenCTI holds for it: ok is false when there is none or
// it cannot be read (logged). It retries with exponential back-off until it
// succeeds or ctx ends; then the error is ctx's. A disabled connector
// returns at once with ok false and no error.
func (c *Connector) Register(ctx context.Context) (state checkpoint.Position, ok bool, err error) {
	if !c.Enabled() {
		c.logDisabled()
		return checkpoint.Position{}, false, nil
	}
	// Waits from registerBackoffInit doubling up to registerBackoffMax, no
	// jitter, never giving up (MaxElapsedTime 0).
	waits := &backoff.ExponentialBackOff{
		InitialInterval: registerBackoffInit,
		Multiplier:      2,
		MaxInterval:     registerBackoffMax,
		Clock:           backoff.SystemClock,
	}
	waits.Reset()
	for attempt := 1; ; attempt++ {
		conn, err := c.api.RegisterConnector(ctx, c.registration())
		if err == nil {
			return c.registered(conn)
		}
		if ctx.Err() != nil {
			return checkpoint.Position{}, false, fmt.Errorf("register opencti connector %s: %w", c.cfg.ID, ctx.Err())
		}
		wait := waits.NextBackOff()
		if hint := refusalHint(err); hint != "" {
			c.log.Errorw("OpenCTI refused to register the connector; retrying: "+hint, "error", err, "attempt", attempt, "retry_in", wait.String())
		} else {
			c.log.Warnw("cannot register the connector in OpenCTI; retrying", "error", err, "attempt", attempt, "retry_in", wait.String())
		}
		select {
		case <-ctx.Done():
			return checkpoint.Position{}, false, fmt.Errorf("register opencti connector %s: %w (last error: %v)", c.cfg.ID, ctx.Err(), err)
		case <-c.clock.After(wait):
		}
	}
}

func (c *Connector) registered(conn api.Connector) (checkpoint.Position, bool, error) {
	raw := ""
	if conn.State != nil {
		raw = *conn.State
	}
	pos, err := ParseState(raw)
	switch {
	case errors.Is(err, errNoState):
		c.log.Infow("registered in OpenCTI as a stream connector; OpenCTI holds no state for it", "name", c.cfg.Name)
		return checkpoint.Position{}, false, nil
	case err != nil:
		c.log.Warnw("registered in OpenCTI as a stream connector; ignoring the connector state OpenCTI holds, which the beat cannot read",
			"name", c.cfg.Name, "state", truncate(raw), "error", err)
		return checkpoint.Position{}, false, nil
	}
	c.log.Infow("registered in OpenCTI as a stream connector", "name", c.cfg.Name,
		"opencti_start_from", pos.StartFrom, "opencti_recover_until", pos.RecoverUntil)
	return pos, true, nil
}

// refusalHint explains GraphQL errors that only a configuration change fixes.
func refusalHint(err error) string {
	var ge *api.GraphQLError
	if !errors.As(err, &ge) {
		return ""
	}
	switch {
	case ge.HasCode("AUTH_REQUIRED"):
		return "the token is invalid: check openctibeat.opencti.token"
	case ge.HasCode("FORBIDDEN_ACCESS"):
		return "the token's user may not act as a connector: give it the \"Connectors API usage\" capability (CONNECTORAPI) in OpenCTI"
	}
	return ""
}

// Run pings OpenCTI now and then every PingInterval until ctx ends, with
// the position acked returns as state; no ping is sent while acked has none
// (or one without StartFrom). When the state OpenCTI answers differs from
// the one sent, Run calls onReset with it, or with the zero Position when
// OpenCTI emptied it (start over from the configured start point). acked
// and onReset are called from Run's goroutine; onReset should hand the
// position over without blocking for long. Errors are logged and the next
// ping tries again. A disabled connector returns at once. Run is not meant
// to be called twice at the same time.
func (c *Connector) Run(ctx context.Context, acked func() (checkpoint.Position, bool), onReset func(checkpoint.Position)) {
	if !c.Enabled() {
		c.logDisabled()
		return
	}
	for {
		c.tick(ctx, acked, onReset)
		select {
		case <-ctx.Done():
			return
		case <-c.clock.After(c.cfg.PingInterval):
		}
	}
}

// tick is one ping.
func (c *Connector) tick(parent context.Context, acked func() (checkpoint.Position, bool), onReset func(checkpoint.Position)) {
	if parent.Err() != nil {
		return
	}
	// Bound each exchange by the interval: a later answer is useless.
	ctx, cancel := context.WithTimeout(parent, c.cfg.PingInterval)
	defer cancel()
	if c.reregister {
		if _, err := c.api.RegisterConnector(ctx, c.registration()); err != nil {
			if parent.Err() != nil {
				return
			}
			c.metrics.pingError()
			c.log.Warnw("cannot register the connector in OpenCTI again; retrying at the next ping", "error", err, "retry_in", c.cfg.PingInterval.String())
			return
		}
		c.reregister = false
		c.log.Infow("registered the connector in OpenCTI again", "name", c.cfg.Name)
	}
	pos, ok := acked()
	if !ok || pos.StartFrom == "" {
		c.log.Debug("no acknowledged stream position yet: not pinging OpenCTI")
		return
	}
	state := EncodeState(pos)
	c.metrics.ping()
	conn, err := c.api.PingConnector(ctx, c.cfg.ID, &state, nil)
	if err != nil {
		if parent.Err() != nil {
			return // shutting down
		}
		c.metrics.pingError()
		var ge *api.GraphQLError
		if errors.As(err, &ge) {
			// For instance the connector was deleted in OpenCTI.
			c.reregister = true
		}
		msg := "cannot ping OpenCTI; retrying at the next ping"
		if hint := refusalHint(err); hint != "" {
			msg += ": " + hint
		}
		c.log.Warnw(msg, "error", err, "retry_in", c.cfg.PingInterval.String())
		return
	}
	c.log.Debugw("pinged OpenCTI", "start_from", pos.StartFrom, "recover_until", pos.RecoverUntil)
	prev, hadPrev := c.lastSent, c.sentBefore
	c.lastSent, c.sentBefore = pos, true
	c.compare(pos, prev, hadPrev, conn.State, onReset)
}

// compare reacts to the state OpenCTI answered a ping that sent sent; prev
// is what the ping before sent.
func (c *Connector) compare(sent, prev checkpoint.Position, hadPrev bool, answered *string, onReset func(checkpoint.Position)) {
	raw := ""
	if answered != nil {
		raw = *answered
	}
	got, err := ParseState(raw)
	switch {
	case errors.Is(err, errNoState):
		c.reset(checkpoint.Position{}, sent, onReset,
			"an operator reset the connector's state in OpenCTI (it is now empty): reading the stream again from the configured start point (openctibeat.start)")
		return
	case err != nil:
		c.log.Warnw("OpenCTI answered the ping with a connector state the beat cannot read; ignoring it and keeping the local position",
			"state", truncate(raw), "error", err, "start_from", sent.StartFrom)
		return
	case got == sent:
		return
	case hadPrev && got == prev:
		// Some OpenCTI versions re-read the connector after saving the
		// state and may get the previous one back (search-engine
		// read-after-write latency): not a reset.
		c.log.Debugw("OpenCTI answered the ping with the previously sent state; ignoring it", "start_from", got.StartFrom)
		return
	}
	c.reset(got, sent, onReset,
		"OpenCTI answered the ping with another connector state (an operator reset it): reading the stream again from that state")
}

func (c *Connector) reset(to, sent checkpoint.Position, onReset func(checkpoint.Position), why string) {
	c.metrics.reset()
	c.log.Warnw(why, "start_from", to.StartFrom, "recover_until", to.RecoverUntil,
		"sent_start_from", sent.StartFrom, "sent_recover_until", sent.RecoverUntil)
	onReset(to)
}
