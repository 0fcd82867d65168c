package connector

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	conf "github.com/elastic/elastic-agent-libs/config"
)

func loadCase(t *testing.T, name string) (Config, error) {
	t.Helper()
	raw, err := os.ReadFile("testdata/config.yml")
	if err != nil {
		t.Fatal(err)
	}
	all, err := conf.NewConfigWithYAML(raw, "testdata/config.yml")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := all.Child(name, -1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	err = sub.Unpack(&cfg)
	return cfg, err
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name       string
		want       Config
		wantScopes []string
		enabled    bool
	}{
		{"defaults", DefaultConfig(), []string{"elastic"}, false},
		{"legacy", Config{ID: "5e1f3b52-7f4e-4a42-9d57-0c0e6b7b6a11", Name: "OpenCTI Elastic Connector", Scope: "elastic", Type: "stream", PingInterval: 40 * time.Second},
			[]string{"elastic"}, true},
		{"full", Config{ID: "5E1F3B52-7F4E-4A42-9D57-0C0E6B7B6A11", Name: "openctibeat prod", Scope: "elastic, indicator,", Type: "STREAM", PingInterval: 10 * time.Second},
			[]string{"elastic", "indicator"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadCase(t, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("config (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantScopes, got.Scopes()); d != "" {
				t.Fatalf("scopes (-want +got):\n%s", d)
			}
			if got.Enabled() != tt.enabled {
				t.Fatalf("Enabled = %v", got.Enabled())
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"bad_id", `openctibeat.connector.id "ChangeMe" is not a UUID`},
		{"bad_type", `openctibeat.connector.type "INTERNAL_ENRICHMENT" is not supported`},
		{"bad_interval", "openctibeat.connector.ping_interval 5m0s is outside [1s, 2m)"},
		{"zero_interval", "openctibeat.connector.ping_interval 0s is outside"},
		{"empty_name", "openctibeat.connector.name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadCase(t, tt.name)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewRegistersUpperCaseType(t *testing.T) {
	cfg, err := loadCase(t, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, nil, nil, nil, nil)
	if r := c.registration(); r.Type != TypeStream || r.Name != "OpenCTI Elastic Connector" {
		t.Fatalf("registration %+v", r)
	}
}
