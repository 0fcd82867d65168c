package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ConnectorConfig is the openctibeat.connector section: how the beat
// presents itself to OpenCTI as a connector. The old connector's
// `connector` section (and its CONNECTOR_* variables) maps onto it.
type ConnectorConfig struct {
	// ID identifies the connector in OpenCTI: a UUID (OpenCTI registers
	// connectors by UUID). Empty: the beat does not register.
	ID string `config:"id"`
	// Name is the connector's name in OpenCTI.
	Name string `config:"name"`
	// Scope is the connector's scope as OpenCTI shows it (informational for
	// stream connectors).
	Scope string `config:"scope"`
	// Type is the OpenCTI connector type: only STREAM. The beat consumes a
	// live stream; the other types (EXTERNAL_IMPORT, INTERNAL_ENRICHMENT,
	// INTERNAL_IMPORT_FILE, ...) are driven by work queues the beat does
	// not read, so registering under them would describe a connector that
	// never acts.
	Type string `config:"type"`
	// ConfidenceLevel is the confidence (0-100) of what the beat creates in
	// OpenCTI (sightings).
	ConfidenceLevel int `config:"confidence_level"`
	// LogLevel is the level the connector reports (debug, info, warn,
	// error). The beat's own logging is libbeat's logging.level, which the
	// old connector.log_level key also sets.
	LogLevel string `config:"log_level"`
	// PingInterval is how often the beat reports its acknowledged position
	// to OpenCTI (pingConnector).
	PingInterval time.Duration `config:"ping_interval"`
}

// Connector defaults.
const (
	DefaultConnectorName = "OpenCTI Elastic Connector"
	ConnectorTypeStream  = "STREAM"
)

// DefaultConnectorConfig returns the connector defaults (those of the old
// connector's sample configuration).
func DefaultConnectorConfig() ConnectorConfig {
	return ConnectorConfig{
		Name:            DefaultConnectorName,
		Scope:           "elastic",
		Type:            ConnectorTypeStream,
		ConfidenceLevel: 80,
		LogLevel:        "info",
		PingInterval:    40 * time.Second,
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// connectorLogLevels are the levels openctibeat.connector.log_level takes.
var connectorLogLevels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}

// Validate names the key, the value's problem and the fix.
func (c *ConnectorConfig) Validate() error {
	const p = "openctibeat.connector."
	var errs []error
	if c.ID != "" && !uuidRe.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("%sid %q is not a UUID (old key connector.id / CONNECTOR_ID): OpenCTI registers connectors by UUID; generate one (uuidgen) or remove the key", p, c.ID))
	}
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, fmt.Errorf("%sname is empty: leave it unset for %q", p, DefaultConnectorName))
	}
	if !strings.EqualFold(c.Type, ConnectorTypeStream) {
		errs = append(errs, fmt.Errorf("%stype %q is not STREAM (old key connector.type / CONNECTOR_TYPE): the beat is a stream connector; set STREAM or remove the key", p, c.Type))
	}
	if c.ConfidenceLevel < 0 || c.ConfidenceLevel > 100 {
		errs = append(errs, fmt.Errorf("%sconfidence_level %d is outside 0-100: give a confidence between 0 and 100 (default 80)", p, c.ConfidenceLevel))
	}
	if c.PingInterval < time.Second {
		errs = append(errs, fmt.Errorf("%sping_interval %s is below 1s: leave it unset for 40s", p, c.PingInterval))
	}
	if !connectorLogLevels[c.LogLevel] {
		errs = append(errs, fmt.Errorf("%slog_level %q is not debug, info, warn or error: use one of them (default info)", p, c.LogLevel))
	}
	return errors.Join(errs...)
}
