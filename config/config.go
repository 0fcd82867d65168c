package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	conf "github.com/elastic/elastic-agent-libs/config"

	"github.com/openctibeat/openctibeat/esindex"
	"github.com/openctibeat/openctibeat/expiry"
	"github.com/openctibeat/openctibeat/filter"
	"github.com/openctibeat/openctibeat/mapping/ecsmode"
	"github.com/openctibeat/openctibeat/mapping/stixmode"
	"github.com/openctibeat/openctibeat/module/sightings"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/opencti/stream"
)

// Section is the beat's key in opencti-beat.yml.
const Section = "openctibeat"

// Modes.
const (
	ModeSTIX = "stix"
	ModeECS  = "ecs"
)

// Config is the `openctibeat` section.
type Config struct {
	OpenCTI opencti.Config  `config:"opencti"`
	Stream  stream.Config   `config:"stream"`
	Start   StartConfig     `config:"start"`
	Mode    string          `config:"mode"`
	STIX    stixmode.Config `config:"stix"`
	ECS     ECSConfig       `config:"ecs"`
	// PositionFile is the file, relative to path.data, the stream position
	// is kept in.
	PositionFile string `config:"position_file"`
	// Connector is how the beat presents itself to OpenCTI.
	Connector ConnectorConfig `config:"connector"`
	// Filter selects the indicators kept.
	Filter filter.Config `config:"filter"`
	// Sightings is the sightings module (ecs mode).
	Sightings sightings.Config `config:"sightings"`
}

// ECSConfig is ecs mode's section.
type ECSConfig struct {
	ecsmode.Config `config:",inline"`
	Expiry         expiry.Config `config:"expiry"`
}

// StartConfig is where the very first run starts; later runs resume from
// the saved position.
type StartConfig struct {
	// From is "0-0" (the oldest event OpenCTI kept), an event id, an ISO
	// date, or "now" (only new events).
	From string `config:"from"`
	// Recover replays the current state of every object in the stream
	// first (OpenCTI's recover mode), so the first run indexes everything
	// that exists, then tails.
	Recover bool `config:"recover"`
}

// Default returns the defaults of the whole section.
func Default() Config {
	return Config{
		OpenCTI:      opencti.DefaultConfig(),
		Stream:       stream.DefaultConfig(),
		Start:        StartConfig{From: "0-0", Recover: true},
		Mode:         ModeECS,
		STIX:         stixmode.DefaultConfig(),
		ECS:          ECSConfig{Config: ecsmode.DefaultConfig(), Expiry: expiry.DefaultConfig()},
		PositionFile: "opencti-stream-position.json",
		Connector:    DefaultConnectorConfig(),
		Filter:       filter.DefaultConfig(),
		Sightings:    sightings.DefaultConfig(),
	}
}

// Validate checks cross-field rules; each package validates its own.
func (c *Config) Validate() error {
	errs := []error{c.OpenCTI.Validate(), c.Stream.Validate(), c.Connector.Validate(), c.Filter.Validate()}
	switch c.Mode {
	case ModeSTIX:
		errs = append(errs, c.STIX.Validate())
	case ModeECS:
		errs = append(errs, c.ECS.Config.Validate(), c.ECS.Expiry.Validate())
		if c.Sightings.Enabled {
			errs = append(errs, c.Sightings.Validate())
		}
	default:
		errs = append(errs, fmt.Errorf("openctibeat.mode %q is unknown: use stix (raw STIX objects) or ecs (ECS threat indicators)", c.Mode))
	}
	if c.Start.From != "0-0" && c.Start.From != "0" && c.Start.From != "now" {
		if _, err := time.Parse(time.RFC3339Nano, c.Start.From); err != nil && !isEventID(c.Start.From) {
			errs = append(errs, fmt.Errorf("openctibeat.start.from %q is not 0-0, now, an event id (<ms>-<seq>) or an ISO date (2024-01-31T00:00:00Z)", c.Start.From))
		}
	}
	if c.PositionFile == "" {
		errs = append(errs, errors.New("openctibeat.position_file is empty: leave it unset to use the default"))
	}
	return errors.Join(errs...)
}

func isEventID(s string) bool {
	var ms, seq uint64
	n, err := fmt.Sscanf(s, "%d-%d", &ms, &seq)
	return err == nil && n == 2 && fmt.Sprintf("%d-%d", ms, seq) == s
}

// Unpack reads the `openctibeat` section from the beat's configuration. It
// fails with the error of the old connector's configuration translation
// (LegacyError), if any.
func Unpack(section *conf.C) (Config, error) {
	if err := LegacyError(); err != nil {
		return Config{}, fmt.Errorf("openctibeat configuration: %w", err)
	}
	c := Default()
	if section == nil {
		section = conf.NewConfig()
	}
	if err := section.Unpack(&c); err != nil {
		return Config{}, fmt.Errorf("openctibeat configuration: %w", err)
	}
	// go-ucfg validates only the keys present; validate the whole.
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("openctibeat configuration: %w", err)
	}
	return c, nil
}

// FromRoot reads the section from the whole configuration.
func FromRoot(root *conf.C) (Config, error) {
	if root == nil || !root.HasField(Section) {
		return Unpack(nil)
	}
	sub, err := root.Child(Section, -1)
	if err != nil {
		return Config{}, err
	}
	return Unpack(sub)
}

// ModeOf returns the mode configured in the whole configuration (the
// default when unset or unreadable).
func ModeOf(root *conf.C) string {
	if root != nil {
		if m, err := root.String(Section+".mode", -1); err == nil && m != "" {
			return m
		}
	}
	return Default().Mode
}

// Templates returns the index templates the configured mode needs, and
// the dead letter index's when output.elasticsearch has one.
func Templates(root *conf.C) ([]esindex.Template, error) {
	// Only the keys that decide the indices are read here: the rest is
	// validated when the beat starts, and `setup` must work without it.
	d := Default()
	c := struct {
		Mode string          `config:"mode"`
		STIX stixmode.Config `config:"stix"`
		ECS  ECSConfig       `config:"ecs"`
	}{Mode: d.Mode, STIX: d.STIX, ECS: d.ECS}
	if root != nil && root.HasField(Section) {
		sub, err := root.Child(Section, -1)
		if err != nil {
			return nil, err
		}
		if err := sub.Unpack(&c); err != nil {
			return nil, fmt.Errorf("openctibeat configuration: %w", err)
		}
	}
	var tmpls []esindex.Template
	var index, pattern string
	if c.Mode == ModeSTIX {
		index, pattern = c.STIX.Index, c.STIX.Index
		tmpls = append(tmpls, esindex.STIX(c.STIX.Index))
	} else {
		index, pattern = c.ECS.Index, c.ECS.TemplatePattern()
		tmpls = append(tmpls, esindex.ECS(templateName(c.ECS.Index), c.ECS.TemplatePattern()))
	}
	dl, err := rootDeadLetterIndex(root)
	if err != nil {
		return nil, err
	}
	if err := checkDeadLetter(dl, index, pattern); err != nil {
		return nil, err
	}
	if dl != "" {
		tmpls = append(tmpls, esindex.DeadLetter(dl))
	}
	return tmpls, nil
}

// templateName names ecs mode's template after its index without the
// namespace (logs-ti_openctibeat.indicator-default ->
// logs-ti_openctibeat.indicator).
func templateName(index string) string {
	if i := strings.LastIndex(index, "-"); i > len("logs-ti_") {
		return index[:i]
	}
	return index
}
