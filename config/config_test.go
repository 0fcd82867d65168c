package config

import (
	"os"
	"strings"
	"testing"
	"time"

	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/transport/tlscommon"
)

func loadCase(t *testing.T, name string) *conf.C {
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
	return sub
}

func TestLoadConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := Unpack(loadCase(t, "defaults"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Mode != ModeECS || c.ECS.Index != "logs-ti_openctibeat.indicator-default" || c.STIX.Index != "opencti-stix" || c.Start.From != "0-0" || !c.Start.Recover ||
			!c.Stream.ListenDelete || c.Stream.IdleTimeout != 45*time.Second || c.PositionFile == "" {
			t.Fatalf("defaults: %+v", c)
		}
		if c.OpenCTI.Token.Reveal() != "t0ken" {
			t.Fatal("token not read")
		}
	})
	t.Run("full", func(t *testing.T) {
		c, err := Unpack(loadCase(t, "full"))
		if err != nil {
			t.Fatal(err)
		}
		if c.OpenCTI.BaseURL() != "https://opencti.example.com" || c.Stream.ID != "live-1" || c.Stream.ListenDelete ||
			!c.Stream.NoDependencies || !c.Stream.WithInferences || c.Stream.IdleTimeout != 30*time.Second ||
			c.Stream.Backoff.Init != 2*time.Second || c.Stream.Backoff.Max != 2*time.Minute ||
			c.Start.From != "2024-01-01T00:00:00Z" || c.Start.Recover || c.STIX.Index != "cti-objects" || c.PositionFile != "pos.json" {
			t.Fatalf("full: %+v", c)
		}
		if c.OpenCTI.Transport.TLS == nil || c.OpenCTI.Transport.TLS.VerificationMode != tlscommon.VerifyNone {
			t.Fatalf("ssl.verification_mode not read: %+v", c.OpenCTI.Transport.TLS)
		}
	})
}

func TestInvalidConfig(t *testing.T) {
	base := map[string]any{"opencti.url": "https://o.example.com", "opencti.token": "t"}
	tests := []struct {
		name string
		set  map[string]any
		want []string
	}{
		{"no url", map[string]any{"opencti.url": ""}, []string{"openctibeat.opencti.url is empty", "OPENCTI_URL"}},
		{"bad url", map[string]any{"opencti.url": "ftp://x"}, []string{"not an http(s) URL"}},
		{"no token", map[string]any{"opencti.token": ""}, []string{"openctibeat.opencti.token is empty", "keystore"}},
		{"unknown mode", map[string]any{"mode": "json"}, []string{`openctibeat.mode "json" is unknown`, "stix"}},
		{"bad start", map[string]any{"start.from": "yesterday"}, []string{"openctibeat.start.from", "ISO date"}},
		{"bad index", map[string]any{"mode": "stix", "stix.index": "Bad Index"}, []string{"openctibeat.stix.index", "lowercase"}},
		{"ecs index outside logs-ti_*", map[string]any{"ecs.index": "indicators"}, []string{"openctibeat.ecs.index", "logs-ti_*"}},
		{"ecs index of the ti_opencti integration", map[string]any{"ecs.index": "logs-ti_opencti.indicator-default"}, []string{"collides"}},
		{"refresh beyond the rules' window", map[string]any{"ecs.expiry.refresh_after": "720h"}, []string{"refresh_after", "30 days"}},
		{"bad stream id", map[string]any{"stream.id": "a/b"}, []string{"openctibeat.stream.id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range base {
				m[k] = v
			}
			for k, v := range tt.set {
				m[k] = v
			}
			_, err := Unpack(conf.MustNewConfigFrom(m))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), `"t"`) {
				t.Error("token value in the error")
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	c, err := Unpack(conf.MustNewConfigFrom(map[string]any{"opencti.url": "https://o.example.com", "opencti.token": "s3cr3t-value"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.OpenCTI.Token.String(), strings.TrimSpace(fmtAll(c))} {
		if strings.Contains(s, "s3cr3t-value") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestTemplates(t *testing.T) {
	root := conf.MustNewConfigFrom(map[string]any{"openctibeat.mode": "stix", "openctibeat.stix.index": "cti"})
	tm, err := Templates(root)
	if err != nil || len(tm) != 1 || tm[0].Name != "cti" || tm[0].Patterns[0] != "cti" {
		t.Fatalf("stix: %+v %v", tm, err)
	}
	tm, err = Templates(nil)
	if err != nil || tm[0].Name != "logs-ti_openctibeat.indicator" || tm[0].Patterns[0] != "logs-ti_openctibeat.indicator-*" || tm[0].Fallback == nil {
		t.Fatalf("default (ecs): %+v %v", tm[0].Name, err)
	}
	root = conf.MustNewConfigFrom(map[string]any{"openctibeat.ecs.index": "logs-ti_mine.ioc-prod"})
	if tm, err = Templates(root); err != nil || tm[0].Name != "logs-ti_mine.ioc" || tm[0].Patterns[0] != "logs-ti_mine.ioc-*" {
		t.Fatalf("custom ecs index: %+v %v", tm[0].Name, err)
	}
}
