package sightings

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	conf "github.com/elastic/elastic-agent-libs/config"
)

func unpack(t *testing.T, yml string) (Config, error) {
	t.Helper()
	c, err := conf.NewConfigWithYAML([]byte(yml), "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	err = c.Unpack(&cfg)
	return cfg, err
}

func TestLoadConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := unpack(t, "{}")
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultConfig()
		if d := cmp.Diff(want, cfg, cmpopts.IgnoreFields(Config{}, "Elasticsearch")); d != "" {
			t.Fatal(d)
		}
		if cfg.Interval != time.Minute || cfg.PageSize != 500 || cfg.RequestTimeout != 30*time.Second || len(cfg.Indices) != 2 || cfg.Indices[0] != IndexAlerts8 || cfg.Indices[1] != IndexSignals7 {
			t.Fatalf("defaults %+v", cfg)
		}
	})
	t.Run("unpack", func(t *testing.T) {
		cfg, err := unpack(t, `
enabled: false
interval: 30s
indices: [".alerts-security.alerts-default"]
query: '{"term":{"kibana.alert.workflow_status":"open"}}'
page_size: 1000
first_lookback: 2h
overlap: 0s
max_alerts_per_poll: 5000
request_timeout: 10s
identity: {type: security_platform, name: "SOC SIEM"}
confidence: 50
description: d
marking: TLP:AMBER
state_file: /var/lib/x.json
elasticsearch: {hosts: ["https://es:9200"], api_key: "id:key"}
`)
		if err != nil {
			t.Fatal(err)
		}
		typ, _ := cfg.IdentityType()
		marking, _ := cfg.MarkingID()
		if cfg.Enabled || cfg.Interval != 30*time.Second || cfg.PageSize != 1000 || cfg.FirstLookback != 2*time.Hour || cfg.Overlap != 0 ||
			cfg.MaxAlertsPerPoll != 5000 || cfg.RequestTimeout != 10*time.Second || typ != "SecurityPlatform" || cfg.Identity.Name != "SOC SIEM" || cfg.Confidence != 50 ||
			marking != "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" || cfg.StateFile != "/var/lib/x.json" || !hasHosts(cfg.Elasticsearch) {
			t.Fatalf("unpacked %+v", cfg)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		yml  string
		want string
	}{
		{"interval: 10ms", "openctibeat.sightings.interval"},
		{`indices: ["a,b"]`, "holds a comma"},
		{"query: 'not json'", "openctibeat.sightings.query is not a JSON query DSL object"},
		{"page_size: 0", "page_size 0 is outside 1-10000"},
		{"page_size: 20000", "page_size 20000 is outside 1-10000"},
		{"first_lookback: -1h", "first_lookback"},
		{"overlap: -1s", "overlap"},
		{"max_alerts_per_poll: 10", "max_alerts_per_poll 10 is below page_size 500"},
		{"request_timeout: 0s", "request_timeout 0s is not positive"},
		{"request_timeout: -1s", "request_timeout -1s is not positive"},
		{"identity.type: organization", "identity.type \"organization\""},
		{"identity.name: x", "identity.name \"x\" is shorter than 2"},
		{"confidence: 101", "confidence 101 is outside 0-100"},
		{"marking: TLP:PURPLE", "marking: \"TLP:PURPLE\" is neither a TLP"},
		{"state_file: ''", "state_file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.yml, func(t *testing.T) {
			_, err := unpack(t, tt.yml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	empty := DefaultConfig()
	empty.Indices = nil
	if err := empty.Validate(); err == nil || !strings.Contains(err.Error(), "openctibeat.sightings.indices is empty") {
		t.Errorf("no indices: %v", err)
	}
	for _, ok := range []string{"marking: tlp:green", "marking: marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", "identity.type: SecurityPlatform", "identity.type: System"} {
		if _, err := unpack(t, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
