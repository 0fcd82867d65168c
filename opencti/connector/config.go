package connector

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// TypeStream is the only connector type the beat registers as.
const TypeStream = "STREAM"

// Config is the `openctibeat.connector` section: how the beat shows in
// OpenCTI's connector list.
type Config struct {
	// ID is the connector's UUID in OpenCTI; empty disables registration
	// and pings. Reuse the Python connector's CONNECTOR_ID to keep its entry.
	ID string `config:"id"`
	// Name is the name shown in OpenCTI.
	Name string `config:"name"`
	// Scope is a comma-separated list, sent as registerConnector's scope.
	Scope string `config:"scope"`
	// Type must be STREAM (the beat reads a live stream).
	Type string `config:"type"`
	// PingInterval is the time between two pings.
	PingInterval time.Duration `config:"ping_interval"`
}

// DefaultConfig returns the defaults: disabled (no id), named openctibeat,
// scope elastic (as the Python connector), STREAM, a ping every 40 s (as
// pycti).
func DefaultConfig() Config {
	return Config{
		Name:         "openctibeat",
		Scope:        "elastic",
		Type:         TypeStream,
		PingInterval: 40 * time.Second,
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate names the key to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.ID != "" && !uuidRe.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("openctibeat.connector.id %q is not a UUID: OpenCTI keeps the connector under this id; generate one (uuidgen), reuse the Python connector's CONNECTOR_ID, or leave it unset to not register", c.ID))
	}
	if c.ID != "" && strings.TrimSpace(c.Name) == "" {
		errs = append(errs, errors.New("openctibeat.connector.name is empty: set the name OpenCTI shows for the connector, or leave it unset for openctibeat"))
	}
	if t := strings.ToUpper(strings.TrimSpace(c.Type)); t != "" && t != TypeStream {
		errs = append(errs, fmt.Errorf("openctibeat.connector.type %q is not supported: the beat reads a live stream, so it registers as STREAM; set STREAM or leave it unset", c.Type))
	}
	if c.PingInterval < time.Second || c.PingInterval >= 2*time.Minute {
		errs = append(errs, fmt.Errorf("openctibeat.connector.ping_interval %s is outside [1s, 2m): OpenCTI shows a connector without a ping for 2 minutes as inactive; leave it unset for 40s", c.PingInterval))
	}
	return errors.Join(errs...)
}

// Enabled reports whether the beat registers as a connector (an id is set).
func (c *Config) Enabled() bool { return c.ID != "" }

// Scopes splits Scope on commas, as pycti does, dropping empty entries.
func (c *Config) Scopes() []string {
	out := []string{}
	for _, s := range strings.Split(c.Scope, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
