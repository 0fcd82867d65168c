package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elastic/beats/v7/libbeat/cfgfile"
	conf "github.com/elastic/elastic-agent-libs/config"
)

// loadWithOverrides loads a configuration file the way the beat does
// (cmd.Settings' overrides: the old connector's translation, then the dead
// letter default).
func loadWithOverrides(t *testing.T, path string) *conf.C {
	t.Helper()
	t.Cleanup(resetLegacyReport)
	check, cfg := DeadLetterDefault()
	c, err := cfgfile.Load(path, []cfgfile.ConditionalOverride{
		{Check: LegacyCheck(envOf(nil)), Config: conf.NewConfig()},
		{Check: check, Config: cfg},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeadLetterDefault(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want string // the dead letter index; "" none
		noES bool   // no output.elasticsearch at all
	}{
		{name: "on by default", yml: "output.elasticsearch.hosts: [\"localhost:9200\"]\n", want: DefaultDeadLetterIndex},
		{name: "the user's own", yml: "output.elasticsearch:\n  hosts: [\"localhost:9200\"]\n  non_indexable_policy.dead_letter_index.index: mine\n", want: "mine"},
		{name: "dropping, as the user chose", yml: "output.elasticsearch:\n  hosts: [\"localhost:9200\"]\n  non_indexable_policy.drop: ~\n"},
		{name: "another output gets nothing", yml: "output.console.enabled: true\n", noES: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "beat.yml")
			if err := os.WriteFile(path, []byte(tt.yml), 0o600); err != nil {
				t.Fatal(err)
			}
			c := loadWithOverrides(t, path)
			if has := hasPath(c, outputES); has == tt.noES {
				t.Fatalf("output.elasticsearch present: %t", has)
			}
			got, err := rootDeadLetterIndex(c)
			if err != nil || got != tt.want {
				t.Fatalf("dead letter index %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

// TestDeadLetterDefaultForTheOldConnector: the old connector's sample gets
// output.elasticsearch from the translation, and the dead letter index.
func TestDeadLetterDefaultForTheOldConnector(t *testing.T) {
	c := loadWithOverrides(t, samplePath(t))
	if got, err := rootDeadLetterIndex(c); err != nil || got != DefaultDeadLetterIndex {
		t.Fatalf("dead letter index %q (%v)", got, err)
	}
}

func TestDeadLetterTemplate(t *testing.T) {
	root := conf.MustNewConfigFrom(map[string]any{"output.elasticsearch.non_indexable_policy.dead_letter_index.index": "refused-here"})
	tm, err := Templates(root)
	if err != nil || len(tm) != 2 || tm[1].Name != "refused-here" || tm[1].Patterns[0] != "refused-here" {
		t.Fatalf("%+v %v", tm, err)
	}
	for _, bad := range []string{"logs-ti_openctibeat.indicator-default", "logs-ti_openctibeat.indicator-refused"} {
		root := conf.MustNewConfigFrom(map[string]any{"output.elasticsearch.non_indexable_policy.dead_letter_index.index": bad})
		if _, err := Templates(root); err == nil || !strings.Contains(err.Error(), "dead_letter_index.index") {
			t.Errorf("%s: %v, want an error naming the key", bad, err)
		}
	}
	root = conf.MustNewConfigFrom(map[string]any{"output.elasticsearch.non_indexable_policy.drop": nil})
	if tm, err := Templates(root); err != nil || len(tm) != 1 {
		t.Fatalf("drop policy: %+v %v", tm, err)
	}
}
