package stream

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config configures the live stream client.
type Config struct {
	// ID is the id of a live stream defined in OpenCTI; empty reads the raw
	// stream at /stream (needs the BYPASS capability).
	ID string `config:"id"`
	// ListenDelete asks OpenCTI to send delete events.
	ListenDelete bool `config:"listen_delete"`
	// NoDependencies asks OpenCTI not to send the objects an event depends on.
	NoDependencies bool `config:"no_dependencies"`
	// WithInferences asks OpenCTI to include inferred objects.
	WithInferences bool `config:"with_inferences"`
	// IdleTimeout is how long a connection may stay without any id-bearing
	// message (OpenCTI sends a heartbeat every 5 s) before it is considered
	// dead and replaced.
	IdleTimeout time.Duration `config:"idle_timeout"`
	// Backoff bounds the wait between reconnects.
	Backoff BackoffConfig `config:"backoff"`
	// MaxEventSize is the largest SSE message accepted, in bytes, its
	// blank line included. A larger one is read past without being kept
	// and handed over with Message.Oversize set, in its place, so that the
	// caller skips it and the stream goes on.
	MaxEventSize int `config:"max_event_size"`
}

// BackoffConfig is an exponential back-off between Init and Max.
type BackoffConfig struct {
	Init time.Duration `config:"init"`
	Max  time.Duration `config:"max"`
}

// DefaultConfig returns the stream defaults.
func DefaultConfig() Config {
	return Config{
		ListenDelete: true,
		IdleTimeout:  45 * time.Second,
		Backoff:      BackoffConfig{Init: time.Second, Max: time.Minute},
		MaxEventSize: 16 << 20,
	}
}

// Validate checks the settings and names the key to fix.
func (c *Config) Validate() error {
	var errs []error
	if strings.ContainsAny(c.ID, "/?#") {
		errs = append(errs, fmt.Errorf("openctibeat.stream.id %q contains '/', '?' or '#': set it to the live stream's id as shown in OpenCTI (Data > Data sharing > Live streams)", c.ID))
	}
	if c.IdleTimeout < 10*time.Second {
		errs = append(errs, fmt.Errorf("openctibeat.stream.idle_timeout %s is below 10s: OpenCTI sends heartbeats every 5s, use at least 10s (default 45s)", c.IdleTimeout))
	}
	if c.Backoff.Init <= 0 || c.Backoff.Max < c.Backoff.Init {
		errs = append(errs, fmt.Errorf("openctibeat.stream.backoff init %s / max %s: init must be positive and max at least init", c.Backoff.Init, c.Backoff.Max))
	}
	if c.MaxEventSize < 64<<10 {
		errs = append(errs, fmt.Errorf("openctibeat.stream.max_event_size %d is below 65536 bytes: OpenCTI objects can be larger, use the default (16 MiB)", c.MaxEventSize))
	}
	return errors.Join(errs...)
}

// endpoint returns the stream URL under OpenCTI's base URL.
func (c *Config) endpoint(base string) string {
	if c.ID == "" {
		return base + "/stream"
	}
	return base + "/stream/" + url.PathEscape(c.ID)
}
