package config

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/elastic/beats/v7/libbeat/common"
	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/logp/logptest"
	ucfg "github.com/elastic/go-ucfg"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/legacy/*.golden.json")

const legacyDir = "testdata/legacy"

// loadFile reads a configuration file as libbeat does (cfgfile.Load);
// "" is an empty configuration.
func loadFile(t *testing.T, name string) *conf.C {
	t.Helper()
	if name == "" {
		return conf.NewConfig()
	}
	c, err := common.LoadFile(filepath.Join(legacyDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func yamlConfig(t *testing.T, y string) *conf.C {
	t.Helper()
	c, err := conf.NewConfigWithYAML([]byte(y), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func readEnvFile(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(legacyDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=value", name, line)
		}
		m[k] = v
	}
	return m
}

// asMap is the whole configuration as plain JSON values.
func asMap(t *testing.T, c *conf.C) map[string]any {
	t.Helper()
	var m map[string]any
	if err := c.Unpack(&m); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// lookup returns the value at a dotted path of asMap's result.
func lookup(m map[string]any, key string) (any, bool) {
	var cur any = m
	for _, p := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// allFields compares Configs including unexported fields (TLS settings).
var allFields = cmp.Exporter(func(reflect.Type) bool { return true })

// TestLegacyEquivalence: the old connector's sample config.yml, the beat's
// own YAML, the sample as CONNECTOR_JSON_CONFIG and the sample as
// environment variables all give the same effective configuration: the
// same config.Config and the same whole configuration (output, logging,
// setup, sightings), which is testdata/legacy/effective.golden.json.
func TestLegacyEquivalence(t *testing.T) {
	jsonConfig, err := os.ReadFile(filepath.Join(legacyDir, "connector_json_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		env  map[string]string
	}{
		{name: "old config.yml.sample", file: "config.yml.sample"},
		{name: "beat YAML", file: "beat.yml"},
		{name: "CONNECTOR_JSON_CONFIG", env: map[string]string{EnvJSONConfig: string(jsonConfig)}},
		{name: "environment variables", file: "env-rest.yml", env: readEnvFile(t, "env.txt")},
	}
	golden := filepath.Join(legacyDir, "effective.golden.json")
	var wantCfg *Config
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadFile(t, tt.file)
			if err := TranslateLegacy(c, envOf(tt.env)); err != nil {
				t.Fatal(err)
			}
			got := asMap(t, c)
			if *update && tt.file == "config.yml.sample" {
				raw, _ := json.MarshalIndent(got, "", "  ")
				if err := os.WriteFile(golden, append(raw, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("effective configuration differs from %s (-want +got):\n%s", golden, d)
			}
			cfg, err := FromRoot(c)
			if err != nil {
				t.Fatal(err)
			}
			if wantCfg == nil {
				wantCfg = &cfg
			} else if d := cmp.Diff(*wantCfg, cfg, allFields); d != "" {
				t.Errorf("config.Config differs from the old sample's (-sample +this):\n%s", d)
			}
		})
	}
	if wantCfg == nil {
		return
	}
	// The sample's settings, spelled out.
	c := wantCfg
	if c.OpenCTI.URL != "http://localhost:8080" || c.OpenCTI.Token.Reveal() != "ChangeMe" || c.Stream.ID != "live" || !c.Stream.ListenDelete ||
		c.Start.From != "1655890657402-0" || c.Mode != ModeECS || c.Connector.ID != "" || c.Connector.ConfidenceLevel != 80 ||
		c.Connector.Name != "OpenCTI Elastic Connector" || c.Connector.Scope != "elastic" || c.Connector.Type != "STREAM" || c.Connector.LogLevel != "info" {
		t.Errorf("sample settings: %+v", *c)
	}
}

// TestLegacySampleReport: what the sample's translation reports (keys only).
func TestLegacySampleReport(t *testing.T) {
	c := loadFile(t, "config.yml.sample")
	rep, err := translateLegacy(c, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	var ignored []string
	for _, l := range rep.Ignored {
		k, _, _ := strings.Cut(l, ":")
		ignored = append(ignored, k)
	}
	want := []string{
		"connector.id (configuration file)", "output.include_labels (configuration file)", "setup.ilm (configuration file)",
		"setup.template.name (configuration file)", "setup.template.pattern (configuration file)",
	}
	if d := cmp.Diff(want, ignored); d != "" {
		t.Errorf("ignored (-want +got):\n%s", d)
	}
	if len(rep.Translated) != 17 {
		t.Errorf("translated %d keys:\n%s", len(rep.Translated), strings.Join(rep.Translated, "\n"))
	}
	log, logs := logptest.NewTestingLoggerWithObserver(t, "")
	rep.Log(log)
	for _, e := range logs.All() {
		if strings.Contains(e.Message+" "+fieldsString(e.ContextMap()), "ChangeMe") {
			t.Errorf("a value is logged: %s %v", e.Message, e.ContextMap())
		}
	}
	if logs.Len() != 1+len(rep.Ignored) {
		t.Errorf("%d log lines", logs.Len())
	}
}

func fieldsString(m map[string]any) string {
	raw, _ := json.Marshal(m)
	return string(raw)
}

// envCases: every environment variable of the old connector (and the
// pycti ones it read), with the beat keys they set from an empty file.
// Absent keys are given as nil.
var envCases = []struct {
	name string
	env  map[string]string
	want map[string]any
}{
	{"OPENCTI_URL", map[string]string{"OPENCTI_URL": "https://octi.example.com"}, map[string]any{"openctibeat.opencti.url": "https://octi.example.com"}},
	{"OPENCTI_TOKEN", map[string]string{"OPENCTI_TOKEN": "tok-1"}, map[string]any{"openctibeat.opencti.token": "tok-1"}},
	{"OPENCTI_SSL_VERIFY False", map[string]string{"OPENCTI_SSL_VERIFY": "False"}, map[string]any{"openctibeat.opencti.ssl.verification_mode": "none"}},
	{"OPENCTI_SSL_VERIFY yes", map[string]string{"OPENCTI_SSL_VERIFY": "yes"}, map[string]any{"openctibeat.opencti.ssl.verification_mode": "full"}},
	{"OPENCTI_JSON_LOGGING (ignored)", map[string]string{"OPENCTI_JSON_LOGGING": "true"}, map[string]any{"opencti": nil}},
	{"CONNECTOR_ID", map[string]string{"CONNECTOR_ID": "9d4b0a1e-6b7c-4f3e-8a2d-1c5e7f9b3a60"}, map[string]any{"openctibeat.connector.id": "9d4b0a1e-6b7c-4f3e-8a2d-1c5e7f9b3a60"}},
	{"CONNECTOR_ID placeholder", map[string]string{"CONNECTOR_ID": "ChangeMe"}, map[string]any{"openctibeat.connector.id": nil}},
	{"CONNECTOR_NAME", map[string]string{"CONNECTOR_NAME": "Elastic prod"}, map[string]any{"openctibeat.connector.name": "Elastic prod"}},
	{"CONNECTOR_SCOPE", map[string]string{"CONNECTOR_SCOPE": "elastic"}, map[string]any{"openctibeat.connector.scope": "elastic"}},
	{"CONNECTOR_TYPE", map[string]string{"CONNECTOR_TYPE": "stream"}, map[string]any{"openctibeat.connector.type": "STREAM"}},
	{"CONNECTOR_CONFIDENCE_LEVEL old scale 1", map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "1"}, map[string]any{"openctibeat.connector.confidence_level": 25.0, "openctibeat.sightings.confidence": 25.0}},
	{"CONNECTOR_CONFIDENCE_LEVEL old scale 3", map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "3"}, map[string]any{"openctibeat.connector.confidence_level": 75.0}},
	{"CONNECTOR_CONFIDENCE_LEVEL old scale 4", map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "4"}, map[string]any{"openctibeat.connector.confidence_level": 100.0}},
	{"CONNECTOR_CONFIDENCE_LEVEL 0", map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "0"}, map[string]any{"openctibeat.connector.confidence_level": 0.0}},
	{"CONNECTOR_CONFIDENCE_LEVEL 10", map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "10"}, map[string]any{"openctibeat.connector.confidence_level": 10.0}},
	{"CONNECTOR_CONFIDENCE_LEVEL 100", map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": " 100 "}, map[string]any{"openctibeat.sightings.confidence": 100.0}},
	{"CONNECTOR_LOG_LEVEL WARNING", map[string]string{"CONNECTOR_LOG_LEVEL": "WARNING"}, map[string]any{"openctibeat.connector.log_level": "warn", "logging.level": "warning"}},
	{"CONNECTOR_LOG_LEVEL critical", map[string]string{"CONNECTOR_LOG_LEVEL": "critical"}, map[string]any{"openctibeat.connector.log_level": "error", "logging.level": "error"}},
	{"CONNECTOR_LOG_LEVEL trace", map[string]string{"CONNECTOR_LOG_LEVEL": "TRACE"}, map[string]any{"logging.level": "debug"}},
	{"CONNECTOR_MODE ecs", map[string]string{"CONNECTOR_MODE": "ecs"}, map[string]any{"openctibeat.mode": "ecs", "openctibeat.sightings.enabled": nil}},
	{"CONNECTOR_MODE ecs_no_signals", map[string]string{"CONNECTOR_MODE": "ecs_no_signals"}, map[string]any{"openctibeat.mode": "ecs", "openctibeat.sightings.enabled": false}},
	{"CONNECTOR_MODE stix", map[string]string{"CONNECTOR_MODE": "STIX"}, map[string]any{"openctibeat.mode": "stix"}},
	{"CONNECTOR_LIVE_STREAM_ID", map[string]string{"CONNECTOR_LIVE_STREAM_ID": "live-2"}, map[string]any{"openctibeat.stream.id": "live-2"}},
	{"CONNECTOR_LIVE_STREAM_LISTEN_DELETE", map[string]string{"CONNECTOR_LIVE_STREAM_LISTEN_DELETE": "false"}, map[string]any{"openctibeat.stream.listen_delete": false}},
	{"CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES", map[string]string{"CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES": "True"}, map[string]any{"openctibeat.stream.no_dependencies": true}},
	{"CONNECTOR_LIVE_STREAM_WITH_INFERENCES", map[string]string{"CONNECTOR_LIVE_STREAM_WITH_INFERENCES": "1"}, map[string]any{"openctibeat.stream.with_inferences": true}},
	{"CLOUD_ID", map[string]string{"CLOUD_ID": "prod:ZXhhbXBsZS5jb20kYWJjJGRlZg=="}, map[string]any{"cloud.id": "prod:ZXhhbXBsZS5jb20kYWJjJGRlZg=="}},
	{"CLOUD_AUTH", map[string]string{"CLOUD_AUTH": "elastic:pw"}, map[string]any{"cloud.auth": "elastic:pw"}},
	{"ELASTICSEARCH_HOSTS", map[string]string{"ELASTICSEARCH_HOSTS": "https://es1:9200, https://es2:9200,"}, map[string]any{"output.elasticsearch.hosts": []any{"https://es1:9200", "https://es2:9200"}}},
	{"ELASTICSEARCH_APIKEY", map[string]string{"ELASTICSEARCH_APIKEY": "id:key"}, map[string]any{"output.elasticsearch.api_key": "id:key", "output.elasticsearch.hosts": []any{"localhost:9200"}}},
	{"ELASTICSEARCH_USERNAME", map[string]string{"ELASTICSEARCH_USERNAME": "elastic"}, map[string]any{"output.elasticsearch.username": "elastic"}},
	{"ELASTICSEARCH_PASSWORD", map[string]string{"ELASTICSEARCH_PASSWORD": "pw${NOT_A_REF}"}, map[string]any{"output.elasticsearch.password": "pw${NOT_A_REF}"}},
	{"ELASTICSEARCH_SSL_VERIFY", map[string]string{"ELASTICSEARCH_SSL_VERIFY": "false"}, map[string]any{"output.elasticsearch.ssl.verification_mode": "none", "output.elasticsearch.ssl_verify": nil}},
	{"ELASTIC_IMPORT_FROM_DATE date", map[string]string{"ELASTIC_IMPORT_FROM_DATE": "2024-01-31"}, map[string]any{"openctibeat.start.from": "2024-01-31T00:00:00.000Z"}},
	{"ELASTIC_IMPORT_FROM_DATE with zone", map[string]string{"ELASTIC_IMPORT_FROM_DATE": "2024-01-31T10:00:00+02:00"}, map[string]any{"openctibeat.start.from": "2024-01-31T08:00:00.000Z"}},
	{"ELASTIC_IMPORT_LABEL", map[string]string{"ELASTIC_IMPORT_LABEL": "c2, phishing"}, map[string]any{"openctibeat.filter.labels": []any{"c2", "phishing"}}},
	{"ELASTIC_IMPORT_LABEL star", map[string]string{"ELASTIC_IMPORT_LABEL": "*"}, map[string]any{"openctibeat.filter.labels": nil}},
	{"CONNECTOR_JSON_CONFIG", map[string]string{EnvJSONConfig: `{"connector": {"mode": "stix", "confidence_level": 2}, "output.elasticsearch.hosts": ["https://es:9200"]}`},
		map[string]any{"openctibeat.mode": "stix", "openctibeat.connector.confidence_level": 50.0, "output.elasticsearch.hosts": []any{"https://es:9200"}}},
	{"empty variables are unset", map[string]string{"OPENCTI_URL": "", "ELASTICSEARCH_HOSTS": "", EnvJSONConfig: " "}, map[string]any{"openctibeat": nil, "output": nil}},
}

func TestLegacyEnvironmentVariables(t *testing.T) {
	for _, tt := range envCases {
		t.Run(tt.name, func(t *testing.T) {
			c := conf.NewConfig()
			if err := TranslateLegacy(c, envOf(tt.env)); err != nil {
				t.Fatal(err)
			}
			m := asMap(t, c)
			for k, want := range tt.want {
				got, ok := lookup(m, k)
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want it unset", k, got)
					}
					continue
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("%s (-want +got):\n%s", k, d)
				}
			}
			// The result is a valid beat configuration (with what any
			// configuration needs).
			if err := c.Merge(map[string]any{"openctibeat.opencti.url": "https://o.example.com", "openctibeat.opencti.token": "t"}); err != nil {
				t.Fatal(err)
			}
			if tt.env["OPENCTI_URL"] != "" || tt.env["OPENCTI_TOKEN"] != "" {
				return
			}
			if _, err := FromRoot(c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLegacyEveryVariableCovered: every environment variable of the old
// connector's table, and every one a rule reads, has a case above.
func TestLegacyEveryVariableCovered(t *testing.T) {
	tested := map[string]bool{}
	for _, c := range envCases {
		for k, v := range c.env {
			if strings.TrimSpace(v) != "" {
				tested[k] = true
			}
		}
	}
	table, err := os.ReadFile(filepath.Join(legacyDir, "connector-readme-table.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Second column of the table: | `yaml.key` | `ENV_VAR` | ...
	re := regexp.MustCompile("(?m)^\\|[^|]*\\|\\s*`([A-Z_]+)`\\s*\\|")
	var inTable []string
	for _, m := range re.FindAllStringSubmatch(string(table), -1) {
		inTable = append(inTable, m[1])
	}
	if len(inTable) != 20 {
		t.Fatalf("found %d variables in the table: %v", len(inTable), inTable)
	}
	for _, r := range rules {
		if r.env != "" {
			inTable = append(inTable, r.env)
		}
	}
	sort.Strings(inTable)
	for _, v := range inTable {
		if !tested[v] {
			t.Errorf("%s has no test case", v)
		}
	}
}

func TestLegacyPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want map[string]any
	}{
		{
			name: "old file key applies when the beat key is absent",
			file: "opencti.url: http://old.example.com\n",
			want: map[string]any{"openctibeat.opencti.url": "http://old.example.com", "opencti": nil},
		},
		{
			name: "the file's beat key wins over its old key",
			file: "opencti.url: http://old.example.com\nopenctibeat.opencti.url: http://beat.example.com\n",
			want: map[string]any{"openctibeat.opencti.url": "http://beat.example.com", "opencti": nil},
		},
		{
			name: "environment wins over both",
			file: "opencti.url: http://old.example.com\nopenctibeat.opencti.url: http://beat.example.com\n",
			env:  map[string]string{"OPENCTI_URL": "http://env.example.com"},
			want: map[string]any{"openctibeat.opencti.url": "http://env.example.com"},
		},
		{
			name: "CONNECTOR_JSON_CONFIG wins over all",
			file: "opencti.url: http://old.example.com\nopenctibeat.opencti.url: http://beat.example.com\n",
			env:  map[string]string{"OPENCTI_URL": "http://env.example.com", EnvJSONConfig: `{"opencti": {"url": "http://json.example.com"}}`},
			want: map[string]any{"openctibeat.opencti.url": "http://json.example.com"},
		},
		{
			name: "the old key of the winning layer decides every beat key it sets",
			file: "connector.mode: ecs_no_signals\n",
			env:  map[string]string{"CONNECTOR_MODE": "stix"},
			want: map[string]any{"openctibeat.mode": "stix", "openctibeat.sightings.enabled": nil},
		},
		{
			name: "logging.level in the file wins over connector.log_level in the file",
			file: "connector.log_level: debug\nlogging.level: error\n",
			want: map[string]any{"logging.level": "error", "openctibeat.connector.log_level": "debug"},
		},
		{
			name: "CONNECTOR_LOG_LEVEL wins over logging.level",
			file: "logging.level: error\n",
			env:  map[string]string{"CONNECTOR_LOG_LEVEL": "debug"},
			want: map[string]any{"logging.level": "debug"},
		},
		{
			name: "ELASTICSEARCH_HOSTS replaces the file's list",
			file: "output.elasticsearch.hosts: [a:9200, b:9200, c:9200]\n",
			env:  map[string]string{"ELASTICSEARCH_HOSTS": "x:9200"},
			want: map[string]any{"output.elasticsearch.hosts": []any{"x:9200"}},
		},
		{
			name: "CONNECTOR_JSON_CONFIG hosts replace ELASTICSEARCH_HOSTS",
			env:  map[string]string{"ELASTICSEARCH_HOSTS": "x:9200,y:9200", EnvJSONConfig: `{"output": {"elasticsearch": {"hosts": ["j:9200"]}}}`},
			want: map[string]any{"output.elasticsearch.hosts": []any{"j:9200"}},
		},
		{
			name: "the file's ssl.verification_mode wins over its old ssl_verify",
			file: "output.elasticsearch:\n  hosts: [a]\n  ssl_verify: false\n  ssl.verification_mode: certificate\n",
			want: map[string]any{"output.elasticsearch.ssl.verification_mode": "certificate", "output.elasticsearch.ssl_verify": nil},
		},
		{
			name: "within one source, elastic_import_from_date wins over connector.start_timestamp",
			file: "connector.start_timestamp: '1655890657402'\nelastic_import_from_date: '2024-02-01'\n",
			want: map[string]any{"openctibeat.start.from": "2024-02-01T00:00:00.000Z"},
		},
		{
			name: "ELASTIC_IMPORT_FROM_DATE wins over the file's start_timestamp",
			file: "connector.start_timestamp: '1655890657402'\n",
			env:  map[string]string{"ELASTIC_IMPORT_FROM_DATE": "2024-03-01T00:00:00Z"},
			want: map[string]any{"openctibeat.start.from": "2024-03-01T00:00:00.000Z"},
		},
		{
			name: "ELASTIC_IMPORT_LABEL * removes the file's label filter",
			file: "openctibeat.filter.labels: [c2]\n",
			env:  map[string]string{"ELASTIC_IMPORT_LABEL": "*"},
			want: map[string]any{"openctibeat.filter.labels": nil},
		},
		{
			name: "CONNECTOR_JSON_CONFIG keys that are libbeat's or the beat's are merged as they are",
			file: "openctibeat.ecs.index: logs-ti_file.indicator-default\noutput.elasticsearch:\n  hosts: [a]\n  ssl.certificate_authorities: [/a.pem, /b.pem]\n",
			env: map[string]string{EnvJSONConfig: `{"openctibeat": {"ecs": {"index": "logs-ti_json.indicator-default"}},
				"output": {"elasticsearch": {"bulk_max_size": 100, "ssl": {"certificate_authorities": ["/j.pem"]}}}}`},
			want: map[string]any{
				"openctibeat.ecs.index":                            "logs-ti_json.indicator-default",
				"output.elasticsearch.bulk_max_size":               100.0,
				"output.elasticsearch.ssl.certificate_authorities": []any{"/j.pem"},
				"output.elasticsearch.hosts":                       []any{"a"},
			},
		},
		{
			name: "an old file without output gets the old default",
			file: "opencti.url: http://o.example.com\n",
			want: map[string]any{"output.elasticsearch.hosts": []any{"localhost:9200"}, "setup.ilm.enabled": false},
		},
		{
			name: "the beat's own file keeps its index and template settings",
			file: "openctibeat.opencti.url: http://o.example.com\noutput.elasticsearch:\n  hosts: [a]\n  index: custom\nsetup.template.name: custom\nsetup.template.pattern: custom*\n",
			want: map[string]any{"output.elasticsearch.index": "custom", "setup.template.name": "custom", "setup.ilm": nil},
		},
		{
			name: "an old file's index, ILM and template names are dropped",
			file: "connector.mode: ecs\noutput.elasticsearch:\n  hosts: [a]\n  index: opencti-{now/d}\n  reduced_privileges: true\nsetup.ilm.rollover_alias: opencti\nsetup.template:\n  name: opencti\n  pattern: opencti-*\n  overwrite: true\n",
			want: map[string]any{
				"output.elasticsearch.index": nil, "output.elasticsearch.reduced_privileges": nil, "setup.ilm.rollover_alias": nil,
				"setup.ilm.enabled": false, "setup.template.name": nil, "setup.template.pattern": nil, "setup.template.overwrite": true,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := yamlConfig(t, tt.file)
			if err := TranslateLegacy(c, envOf(tt.env)); err != nil {
				t.Fatal(err)
			}
			m := asMap(t, c)
			for k, want := range tt.want {
				got, ok := lookup(m, k)
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want it unset", k, got)
					}
					continue
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("%s (-want +got):\n%s", k, d)
				}
			}
		})
	}
}

// TestLegacyReferencesStayLazy: an old token given as ${VAR} is moved
// unresolved, so a variable (or keystore key) known only later resolves.
func TestLegacyReferencesStayLazy(t *testing.T) {
	c := yamlConfig(t, "opencti:\n  url: http://o.example.com\n  token: ${LEGACY_TEST_TOKEN}\n")
	if err := TranslateLegacy(c, envOf(nil)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LEGACY_TEST_TOKEN", "from-later")
	cfg, err := FromRoot(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OpenCTI.Token.Reveal() != "from-later" || cfg.OpenCTI.URL != "http://o.example.com" {
		t.Fatalf("token %q url %q", cfg.OpenCTI.Token.Reveal(), cfg.OpenCTI.URL)
	}
}

// TestLegacyReferenceConfigUnchanged: the beat's own opencti-beat.yml, run
// with OPENCTI_URL and OPENCTI_TOKEN set, means the same with the
// translation as without.
func TestLegacyReferenceConfigUnchanged(t *testing.T) {
	env := map[string]string{"OPENCTI_URL": "https://opencti.example.com", "OPENCTI_TOKEN": "0b9a1d3c-7e1f-4c55-9a43-2f1e8d6c5b4a"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	before, err := common.LoadFile("../opencti-beat.yml")
	if err != nil {
		t.Fatal(err)
	}
	after, err := common.LoadFile("../opencti-beat.yml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := translateLegacy(after, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Ignored) != 0 || len(rep.Translated) != 2 {
		t.Errorf("report: %+v", rep)
	}
	if d := cmp.Diff(asMap(t, before), asMap(t, after)); d != "" {
		t.Errorf("(-without +with translation):\n%s", d)
	}
}

func TestLegacyCheckAndUnpack(t *testing.T) {
	t.Cleanup(resetLegacyReport)
	check := LegacyCheck(envOf(map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "101", "OPENCTI_TOKEN": "s3cr3t"}))
	c := yamlConfig(t, "opencti.url: http://o.example.com\n")
	if check(c) {
		t.Fatal("Check returned true: nothing is to be merged")
	}
	err := LegacyError()
	if err == nil || !strings.Contains(err.Error(), "CONNECTOR_CONFIDENCE_LEVEL 101 is outside 0-100") {
		t.Fatalf("LegacyError: %v", err)
	}
	_, err = Unpack(conf.MustNewConfigFrom(map[string]any{"opencti.url": "https://o.example.com", "opencti.token": "t"}))
	if err == nil || !strings.Contains(err.Error(), "CONNECTOR_CONFIDENCE_LEVEL") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("Unpack: %v", err)
	}
	if !has((*ucfg.Config)(c), "opencti.url") {
		t.Error("a failed translation changed the configuration")
	}

	check = LegacyCheck(envOf(map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "4"}))
	c = yamlConfig(t, "opencti.url: http://o.example.com\nopencti.token: t\n")
	check(c)
	if err := LegacyError(); err != nil {
		t.Fatal(err)
	}
	cfg, err := FromRoot(c)
	if err != nil || cfg.Connector.ConfidenceLevel != 100 {
		t.Fatalf("%v %+v", err, cfg.Connector)
	}
	if r := LastLegacyReport(); len(r.Translated) == 0 {
		t.Fatal("no report")
	}
}

// TestLegacyFileKeys: the old keys that have no environment variable.
func TestLegacyFileKeys(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    map[string]any
		ignored string // a substring of one Ignored line
	}{
		{name: "signals", file: "elastic.signals:\n  query_interval: 10m\n  lookback_interval: 1d\n  signal_index: '.siem-signals-*,.alerts-security.alerts-default'\n",
			want: map[string]any{"openctibeat.sightings.interval": "10m0s", "openctibeat.sightings.first_lookback": "24h0m0s",
				"openctibeat.sightings.indices": []any{".siem-signals-*", ".alerts-security.alerts-default"}}},
		{name: "signals query is unwrapped", file: `elastic.signals.query: '{"query": {"term": {"kibana.alert.workflow_status": "open"}}}'` + "\n",
			want: map[string]any{"openctibeat.sightings.query": `{"term":{"kibana.alert.workflow_status":"open"}}`}},
		{name: "the old default signals query is dropped", file: "elastic.signals.query: >\n  {\"query\": {\"bool\": {\"must\": {\"match\": { \"signal.rule.type\": \"threat_match\" }}}}}\n",
			want: map[string]any{"openctibeat.sightings.query": nil}, ignored: "elastic.signals.query (configuration file): it is the old default"},
		{name: "sightings TLP", file: "elastic.sightings_tlp: amber\n", want: map[string]any{"openctibeat.sightings.marking": "TLP:AMBER"}},
		{name: "sightings marking id", file: "elastic.sightings_tlp: marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da\n",
			want: map[string]any{"openctibeat.sightings.marking": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"}},
		{name: "max TLP of older versions", file: "elastic.max_tlp: 'TLP:GREEN'\n", want: map[string]any{"openctibeat.filter.tlp_ceiling": "GREEN"}},
		{name: "import label list in the file", file: "elastic.import_label: [c2, Phishing]\n", want: map[string]any{"openctibeat.filter.labels": []any{"c2", "Phishing"}}},
		{name: "import date under elastic", file: "elastic.import_from_date: '2024-01-31T12:30:00'\n", want: map[string]any{"openctibeat.start.from": "2024-01-31T12:30:00.000Z"}},
		{name: "identity", file: "connector:\n  entity_name: SOC cluster\n  entity_description: prod\n",
			want: map[string]any{"openctibeat.sightings.identity.name": "SOC cluster", "openctibeat.sightings.identity.description": "prod"}},
		{name: "confidence as a string", file: "connector.confidence_level: '2'\n", want: map[string]any{"openctibeat.connector.confidence_level": 50.0}},
		{name: "indicator types of older versions", file: "elastic.indicator_types: [stix]\n", want: map[string]any{"elastic": nil},
			ignored: "elastic.indicator_types (configuration file): it listed the pattern types"},
		{name: "unknown old keys are reported", file: "connector:\n  auto: true\n  mode: stix\nopencti.platform_url: http://x\n",
			want: map[string]any{"openctibeat.mode": "stix", "connector": nil, "opencti": nil}, ignored: "connector.auto (configuration file): no equivalent"},
		{name: "placeholder connector id", file: "connector.id: ChangeMe\n", want: map[string]any{"openctibeat.connector": nil},
			ignored: "connector.id (configuration file): it is empty or the sample's placeholder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := yamlConfig(t, tt.file)
			rep, err := translateLegacy(c, envOf(nil))
			if err != nil {
				t.Fatal(err)
			}
			m := asMap(t, c)
			for k, want := range tt.want {
				got, ok := lookup(m, k)
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want it unset", k, got)
					}
					continue
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("%s (-want +got):\n%s", k, d)
				}
			}
			if tt.ignored != "" && !strings.Contains(strings.Join(rep.Ignored, "\n"), tt.ignored) {
				t.Errorf("ignored %q lacks %q", rep.Ignored, tt.ignored)
			}
		})
	}
}

// TestLegacyJSONUnknownKeys: CONNECTOR_JSON_CONFIG's unknown old keys are
// reported like the file's.
func TestLegacyJSONUnknownKeys(t *testing.T) {
	rep, err := translateLegacy(conf.NewConfig(), envOf(map[string]string{EnvJSONConfig: `{"connector": {"auto": true}, "setup": {"template": {"name": "x"}}}`}))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rep.Ignored, "\n")
	for _, w := range []string{"CONNECTOR_JSON_CONFIG connector.auto: no equivalent", "CONNECTOR_JSON_CONFIG setup.template.name: the beat names"} {
		if !strings.Contains(got, w) {
			t.Errorf("ignored %q lacks %q", got, w)
		}
	}
}
