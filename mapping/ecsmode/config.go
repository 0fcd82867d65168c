package ecsmode

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Config configures ecs mode.
type Config struct {
	// Index is the plain index the documents go to. It must match
	// logs-ti_* for Elastic Security's rules and Kibana's threat
	// intelligence views to find it.
	Index string `config:"index"`
	// FeedName is threat.feed.name.
	FeedName string `config:"feed_name"`
}

// DefaultIndex is the default index of ecs mode: it matches logs-ti_* and
// not the templates of Elastic's own ti_opencti integration.
const DefaultIndex = "logs-ti_openctibeat.indicator-default"

// DefaultConfig returns the ecs mode defaults.
func DefaultConfig() Config {
	return Config{Index: DefaultIndex, FeedName: "OpenCTI"}
}

var indexRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]{0,254}$`)

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	if !indexRe.MatchString(c.Index) {
		errs = append(errs, fmt.Errorf("openctibeat.ecs.index %q is not a valid index name: use lowercase letters, digits, '-', '_', '.', e.g. %q", c.Index, DefaultIndex))
	} else if !strings.HasPrefix(c.Index, "logs-ti_") {
		errs = append(errs, fmt.Errorf("openctibeat.ecs.index %q does not match logs-ti_*: Elastic Security's indicator-match rules and threat intelligence views only read logs-ti_*; use e.g. %q", c.Index, DefaultIndex))
	} else if strings.HasPrefix(c.Index, "logs-ti_opencti.") {
		errs = append(errs, fmt.Errorf("openctibeat.ecs.index %q collides with Elastic's ti_opencti integration (logs-ti_opencti.*): use e.g. %q", c.Index, DefaultIndex))
	}
	if strings.TrimSpace(c.FeedName) == "" {
		errs = append(errs, errors.New("openctibeat.ecs.feed_name is empty: leave it unset for \"OpenCTI\""))
	}
	return errors.Join(errs...)
}

// TemplatePattern is the index pattern of the index's template: the index
// with its namespace replaced by "*" (logs-ti_x.indicator-default ->
// logs-ti_x.indicator-*), else the index itself.
func (c *Config) TemplatePattern() string {
	if i := strings.LastIndex(c.Index, "-"); i > len("logs-ti_") {
		return c.Index[:i] + "-*"
	}
	return c.Index
}
