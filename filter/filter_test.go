package filter

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/monitoring"
	"github.com/google/go-cmp/cmp"

	"github.com/openctibeat/openctibeat/stix"
)

func loadObjects(t *testing.T) map[string]stix.Object {
	t.Helper()
	raw, err := os.ReadFile("testdata/indicators.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]stix.Object{}
	for name, fields := range m {
		o, err := stix.FromMap(fields)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = o
	}
	return out
}

func intp(i int) *int    { return &i }
func boolp(b bool) *bool { return &b }

func TestAllow(t *testing.T) {
	objs := loadObjects(t)
	tests := []struct {
		name string
		cfg  Config
		// want maps each object to the reason it is refused ("" = kept);
		// objects not listed are kept.
		want map[string]string
	}{
		{name: "no filter keeps everything", cfg: Config{}},
		{name: "labels star keeps everything", cfg: Config{Labels: []string{"*"}}},
		{
			name: "labels, case-insensitive",
			cfg:  Config{Labels: []string{"c2", "PHISHING"}},
			want: map[string]string{
				"fixture_domain": ReasonLabel, "fixture_file_sha256": ReasonLabel, "no_score_no_marking_file": ReasonLabel,
				"yara_no_main_type": ReasonLabel, "mixed_types_pattern": ReasonLabel,
			},
		},
		{
			name: "min score: extension score, x_opencti_score, missing score",
			cfg:  Config{MinScore: intp(60)},
			want: map[string]string{
				"fixture_domain": ReasonScore, "fixture_file_sha256": ReasonScore, "url_red_score30": ReasonScore,
				"no_score_no_marking_file": ReasonScore,
			},
		},
		{name: "min score 0 keeps every scored indicator", cfg: Config{MinScore: intp(0)}, want: map[string]string{"no_score_no_marking_file": ReasonScore}},
		{
			name: "tlp ceiling amber drops amber+strict and red; unmarked and non-TLP markings pass",
			cfg:  Config{TLPCeiling: "TLP:AMBER"},
			want: map[string]string{"url_red_score30": ReasonTLP, "legacy_props_hostname_amber_strict": ReasonTLP},
		},
		{
			name: "tlp ceiling clear (white) keeps only clear and unmarked",
			cfg:  Config{TLPCeiling: "white"},
			want: map[string]string{
				"ipv4_amber_score80_detect": ReasonTLP, "url_red_score30": ReasonTLP, "legacy_props_hostname_amber_strict": ReasonTLP,
				"yara_no_main_type": ReasonTLP,
			},
		},
		{name: "tlp ceiling red keeps everything", cfg: Config{TLPCeiling: "RED"}},
		{
			name: "detection true: extension flag, x_opencti_detection, missing counts as false",
			cfg:  Config{Detection: boolp(true)},
			want: map[string]string{"fixture_file_sha256": ReasonDetection, "url_red_score30": ReasonDetection, "no_score_no_marking_file": ReasonDetection},
		},
		{
			name: "detection false",
			cfg:  Config{Detection: boolp(false)},
			want: map[string]string{
				"fixture_domain": ReasonDetection, "ipv4_amber_score80_detect": ReasonDetection, "legacy_props_hostname_amber_strict": ReasonDetection,
				"yara_no_main_type": ReasonDetection, "mixed_types_pattern": ReasonDetection,
			},
		},
		{
			name: "types: main observable type, StixFile as file, pattern types when main type is Unknown",
			cfg:  Config{Types: []string{"IPv4-Addr", "file", "email-addr"}},
			want: map[string]string{
				"fixture_domain": ReasonType, "url_red_score30": ReasonType, "legacy_props_hostname_amber_strict": ReasonType,
				"yara_no_main_type": ReasonType,
			},
		},
		{
			name: "types from the pattern's other observation",
			cfg:  Config{Types: []string{"domain-name", "hostname"}},
			want: map[string]string{
				"fixture_file_sha256": ReasonType, "ipv4_amber_score80_detect": ReasonType, "url_red_score30": ReasonType,
				"no_score_no_marking_file": ReasonType, "yara_no_main_type": ReasonType,
			},
		},
		{
			name: "all filters: the first failed one is the reason",
			cfg:  Config{Labels: []string{"c2"}, MinScore: intp(90), TLPCeiling: "AMBER", Detection: boolp(true), Types: []string{"hostname"}},
			want: map[string]string{
				"fixture_domain": ReasonLabel, "fixture_file_sha256": ReasonLabel, "url_red_score30": ReasonLabel,
				"no_score_no_marking_file": ReasonLabel, "yara_no_main_type": ReasonLabel, "mixed_types_pattern": ReasonLabel,
				"ipv4_amber_score80_detect":          ReasonScore,
				"legacy_props_hostname_amber_strict": ReasonTLP,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatalf("config rejected: %v", err)
			}
			f := New(tt.cfg)
			got := map[string]string{}
			for name, o := range objs {
				ok, reason := f.Allow(o)
				if ok != (reason == "") {
					t.Fatalf("%s: ok %v with reason %q", name, ok, reason)
				}
				if !ok {
					got[name] = reason
				}
			}
			want := tt.want
			if want == nil {
				want = map[string]string{}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("refused (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings; none = valid
	}{
		{name: "defaults", cfg: DefaultConfig()},
		{name: "every filter", cfg: Config{Labels: []string{"a"}, Types: []string{"StixFile", "IPv4-Addr", "hostname"}, MinScore: intp(100), TLPCeiling: "tlp:amber+strict", Detection: boolp(false)}},
		{name: "empty label", cfg: Config{Labels: []string{" "}}, want: []string{"openctibeat.filter.labels", "empty label"}},
		{name: "star with labels", cfg: Config{Labels: []string{"*", "x"}}, want: []string{"openctibeat.filter.labels", `"*"`}},
		{name: "unknown type", cfg: Config{Types: []string{"ipv4"}}, want: []string{`openctibeat.filter.types entry "ipv4"`, "ipv4-addr"}},
		{name: "score above 100", cfg: Config{MinScore: intp(101)}, want: []string{"openctibeat.filter.min_score 101", "0 and 100"}},
		{name: "negative score", cfg: Config{MinScore: intp(-1)}, want: []string{"min_score -1"}},
		{name: "bad tlp", cfg: Config{TLPCeiling: "ORANGE"}, want: []string{`openctibeat.filter.tlp_ceiling "ORANGE"`, "AMBER+STRICT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestUnpack: the section as YAML, with go-ucfg calling Validate.
func TestUnpack(t *testing.T) {
	c, err := conf.NewConfigWithYAML([]byte("labels: [c2]\ntypes: [ipv4-addr]\nmin_score: 50\ntlp_ceiling: AMBER\ndetection: true\n"), "filter")
	if err != nil {
		t.Fatal(err)
	}
	got := DefaultConfig()
	if err := c.Unpack(&got); err != nil {
		t.Fatal(err)
	}
	want := Config{Labels: []string{"c2"}, Types: []string{"ipv4-addr"}, MinScore: intp(50), TLPCeiling: "AMBER", Detection: boolp(true)}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	bad, _ := conf.NewConfigWithYAML([]byte("min_score: 200\n"), "filter")
	if err := bad.Unpack(&got); err == nil || !strings.Contains(err.Error(), "min_score 200") {
		t.Fatalf("min_score 200: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := monitoring.NewRegistry()
	m := NewMetrics(reg)
	m.Dropped(ReasonScore)
	m.Dropped(ReasonScore)
	m.Dropped("unknown")
	var nilM *Metrics
	nilM.Dropped(ReasonTLP)
	snap := monitoring.CollectFlatSnapshot(reg, monitoring.Full, false)
	if snap.Ints["dropped.score_total"] != 2 || snap.Ints["dropped.tlp_total"] != 0 {
		t.Fatalf("%+v", snap.Ints)
	}
}

func TestInactiveFilter(t *testing.T) {
	var f *Filter
	if f.Active() {
		t.Fatal("nil filter active")
	}
	if New(Config{Labels: []string{"*"}}).Active() {
		t.Fatal(`labels ["*"] is a filter`)
	}
}
