package sightings

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	conf "github.com/elastic/elastic-agent-libs/config"

	"github.com/openctibeat/openctibeat/opencti/api"
)

// Default alert indices: Elastic 8 and later, and 7.x.
const (
	IndexAlerts8  = ".alerts-security.alerts-*"
	IndexSignals7 = ".siem-signals-*"
)

// Config is the sightings module's configuration (openctibeat.sightings).
type Config struct {
	// Enabled turns the module on (it runs only in ecs mode).
	Enabled bool `config:"enabled"`
	// Interval is the time between polls.
	Interval time.Duration `config:"interval"`
	// Indices are the alert indices or patterns searched.
	Indices []string `config:"indices"`
	// Query is an extra query DSL clause (JSON) every alert must match, for
	// example {"term":{"kibana.alert.workflow_status":"open"}}.
	Query string `config:"query"`
	// PageSize is the number of alerts per search request.
	PageSize int `config:"page_size"`
	// FirstLookback is how far back the very first poll reads.
	FirstLookback time.Duration `config:"first_lookback"`
	// Overlap is how far before the newest alert already processed each poll
	// starts again, so that alerts that became searchable late are not
	// missed; alerts read twice are recognised by id and not counted again.
	Overlap time.Duration `config:"overlap"`
	// RequestTimeout bounds each Elasticsearch request of the module (a page
	// of alerts, an indicator document), answer included: a hung engine
	// fails the poll, which is retried at the next interval, instead of
	// holding the module.
	RequestTimeout time.Duration `config:"request_timeout"`
	// MaxAlertsPerPoll bounds the new alerts one poll processes (and so its
	// memory); a poll that reaches it is followed by the next one at once.
	MaxAlertsPerPoll int `config:"max_alerts_per_poll"`
	// Identity is the "where sighted" identity.
	Identity IdentityConfig `config:"identity"`
	// Confidence of the sightings (0-100).
	Confidence int `config:"confidence"`
	// Description of the sightings.
	Description string `config:"description"`
	// Marking is a marking definition applied to the sightings and the
	// identity: TLP:CLEAR, TLP:WHITE, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT,
	// TLP:RED, or a marking definition id (internal or STIX). Empty: none.
	Marking string `config:"marking"`
	// StateFile is the module's state (checkpoint and per-sighting totals),
	// relative to the beat's data path.
	StateFile string `config:"state_file"`
	// Elasticsearch, when it has hosts, is the connection to read alerts
	// with, instead of the output's (same keys as output.elasticsearch:
	// hosts, protocol, path, api_key, username, password, ssl.*).
	Elasticsearch *conf.C `config:"elasticsearch"`
}

// IdentityConfig names the identity the sightings are "where sighted".
type IdentityConfig struct {
	// Type is system (default) or security_platform.
	Type string `config:"type"`
	// Name is the identity's name; with the type it determines its STIX id.
	Name string `config:"name"`
	// Description is set when the identity is created.
	Description string `config:"description"`
}

// DefaultConfig returns the module defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:          true,
		Interval:         time.Minute,
		Indices:          []string{IndexAlerts8, IndexSignals7},
		PageSize:         500,
		FirstLookback:    24 * time.Hour,
		Overlap:          5 * time.Minute,
		MaxAlertsPerPoll: 50000,
		RequestTimeout:   30 * time.Second,
		Identity: IdentityConfig{
			Type:        "system",
			Name:        "Elastic Detection Cluster",
			Description: "Elasticsearch detection engine cluster",
		},
		Confidence:  80,
		Description: "Elastic Security indicator match alerts (openctibeat)",
		StateFile:   "opencti-sightings.json",
	}
}

// tlpMarkings are OpenCTI's fixed TLP marking definition ids.
var tlpMarkings = map[string]string{
	"TLP:CLEAR":        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
	"TLP:WHITE":        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
	"TLP:GREEN":        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
	"TLP:AMBER":        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
	"TLP:AMBER+STRICT": "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
	"TLP:RED":          "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

var markingIDRe = regexp.MustCompile(`^(marking-definition--)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate names the key to fix.
func (c *Config) Validate() error {
	const p = "openctibeat.sightings."
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("%sinterval %s is below 1s: use a duration such as 1m (default)", p, c.Interval))
	}
	if len(c.Indices) == 0 {
		errs = append(errs, fmt.Errorf("%sindices is empty: list the alert indices, default [%q, %q]", p, IndexAlerts8, IndexSignals7))
	}
	for _, ix := range c.Indices {
		if strings.TrimSpace(ix) == "" || strings.ContainsAny(ix, ", ") {
			errs = append(errs, fmt.Errorf("%sindices entry %q is empty or holds a comma or space: give one index or pattern per entry", p, ix))
		}
	}
	if c.Query != "" {
		var v map[string]any
		if err := json.Unmarshal([]byte(c.Query), &v); err != nil || len(v) == 0 {
			errs = append(errs, fmt.Errorf("%squery is not a JSON query DSL object (%v): give one clause, e.g. {\"term\":{\"kibana.alert.workflow_status\":\"open\"}}", p, err))
		}
	}
	if c.PageSize < 1 || c.PageSize > 10000 {
		errs = append(errs, fmt.Errorf("%spage_size %d is outside 1-10000: default 500", p, c.PageSize))
	}
	if c.FirstLookback < 0 {
		errs = append(errs, fmt.Errorf("%sfirst_lookback %s is negative: use a duration such as 24h (default)", p, c.FirstLookback))
	}
	if c.Overlap < 0 {
		errs = append(errs, fmt.Errorf("%soverlap %s is negative: use 0 or a duration such as 5m (default)", p, c.Overlap))
	}
	if c.RequestTimeout <= 0 {
		// Zero would mean no limit: a hung engine would hold the module
		// forever.
		errs = append(errs, fmt.Errorf("%srequest_timeout %s is not positive: use a duration such as 30s (default); it bounds each Elasticsearch request of the module", p, c.RequestTimeout))
	}
	if c.MaxAlertsPerPoll < c.PageSize {
		errs = append(errs, fmt.Errorf("%smax_alerts_per_poll %d is below page_size %d: default 50000", p, c.MaxAlertsPerPoll, c.PageSize))
	}
	if _, err := c.IdentityType(); err != nil {
		errs = append(errs, fmt.Errorf("%sidentity.type %q: %w: use system or security_platform", p, c.Identity.Type, err))
	}
	if n := strings.TrimSpace(c.Identity.Name); len(n) < 2 {
		errs = append(errs, fmt.Errorf("%sidentity.name %q is shorter than 2 characters: name the Elastic cluster, default %q", p, c.Identity.Name, DefaultConfig().Identity.Name))
	}
	if c.Confidence < 0 || c.Confidence > 100 {
		errs = append(errs, fmt.Errorf("%sconfidence %d is outside 0-100: default 80", p, c.Confidence))
	}
	if _, err := c.MarkingID(); err != nil {
		errs = append(errs, fmt.Errorf("%smarking: %w", p, err))
	}
	if strings.TrimSpace(c.StateFile) == "" {
		errs = append(errs, fmt.Errorf("%sstate_file is empty: default %q (under path.data)", p, DefaultConfig().StateFile))
	}
	return errors.Join(errs...)
}

// IdentityType maps identity.type to the API's type.
func (c *Config) IdentityType() (api.IdentityType, error) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(c.Identity.Type), "-", "_")) {
	case "", "system":
		return api.IdentitySystem, nil
	case "security_platform", "securityplatform":
		return api.IdentitySecurityPlatform, nil
	}
	return "", errors.New("unknown identity type")
}

// MarkingID returns the marking definition id of Marking ("" for none).
func (c *Config) MarkingID() (string, error) {
	m := strings.TrimSpace(c.Marking)
	if m == "" {
		return "", nil
	}
	if id, ok := tlpMarkings[strings.ToUpper(m)]; ok {
		return id, nil
	}
	if markingIDRe.MatchString(m) {
		return m, nil
	}
	return "", fmt.Errorf("%q is neither a TLP (TLP:CLEAR, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT, TLP:RED) nor a marking definition id", m)
}

// queryFilter is Query as a raw JSON clause (nil when empty).
func (c *Config) queryFilter() json.RawMessage {
	if strings.TrimSpace(c.Query) == "" {
		return nil
	}
	return json.RawMessage(c.Query)
}
