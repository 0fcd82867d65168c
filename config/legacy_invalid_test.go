package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLegacyInvalid: every invalid old value is refused with the key or
// variable as written, the value's problem and the fix; the configuration
// is left as it was, and no secret is in the message.
func TestLegacyInvalid(t *testing.T) {
	const secret = "s3cr3t-value"
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string
	}{
		{name: "bad URL (env)", env: map[string]string{"OPENCTI_URL": "ftp://user:" + secret + "@octi.example.com"},
			want: []string{`OPENCTI_URL "ftp://REDACTED@octi.example.com" is not an http(s) URL`, "https://opencti.example.com"}},
		{name: "bad URL (file)", file: "opencti.url: octi.example.com\n",
			want: []string{`opencti.url "octi.example.com" is not an http(s) URL`}},
		{name: "bad URL (JSON)", env: map[string]string{EnvJSONConfig: `{"opencti": {"url": "localhost:8080"}}`},
			want: []string{`CONNECTOR_JSON_CONFIG opencti.url "localhost:8080" is not an http(s) URL`}},
		{name: "bad boolean in OPENCTI_SSL_VERIFY", env: map[string]string{"OPENCTI_SSL_VERIFY": "maybe"},
			want: []string{`OPENCTI_SSL_VERIFY "maybe" is not a boolean: use true or false`}},
		{name: "bad boolean in ELASTICSEARCH_SSL_VERIFY", env: map[string]string{"ELASTICSEARCH_SSL_VERIFY": "2"},
			want: []string{`ELASTICSEARCH_SSL_VERIFY "2" is not a boolean`}},
		{name: "bad boolean (file)", file: "connector.live_stream_listen_delete: sometimes\n",
			want: []string{`connector.live_stream_listen_delete "sometimes" is not a boolean`}},
		{name: "confidence 5", env: map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "5"},
			want: []string{"CONNECTOR_CONFIDENCE_LEVEL 5 is ambiguous", "1-4 is the old scale", "write the 0-100 value"}},
		{name: "confidence 101", file: "connector.confidence_level: 101\n",
			want: []string{"connector.confidence_level 101 is outside 0-100: use 1-4 (old scale) or 0-100"}},
		{name: "confidence -1", env: map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "-1"}, want: []string{"CONNECTOR_CONFIDENCE_LEVEL -1 is outside 0-100"}},
		{name: "confidence not a number", env: map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "high"},
			want: []string{`CONNECTOR_CONFIDENCE_LEVEL "high" is not a whole number: use 1-4 (old scale) or 0-100`}},
		{name: "unknown mode", env: map[string]string{"CONNECTOR_MODE": "json"},
			want: []string{`CONNECTOR_MODE "json" is unknown: use ecs`, "ecs_no_signals", "stix"}},
		{name: "malformed CONNECTOR_JSON_CONFIG", env: map[string]string{EnvJSONConfig: `{"opencti": {"token": "` + secret + `"`},
			want: []string{"CONNECTOR_JSON_CONFIG is not valid JSON (it ends early)", "one JSON object"}},
		{name: "CONNECTOR_JSON_CONFIG syntax error", env: map[string]string{EnvJSONConfig: `{"opencti": {"token": ` + secret + `}}`},
			want: []string{"CONNECTOR_JSON_CONFIG is not valid JSON (syntax error at byte 23)"}},
		{name: "CONNECTOR_JSON_CONFIG not an object", env: map[string]string{EnvJSONConfig: `["` + secret + `"]`},
			want: []string{"CONNECTOR_JSON_CONFIG is a list, not a JSON object"}},
		{name: "CONNECTOR_JSON_CONFIG trailing data", env: map[string]string{EnvJSONConfig: `{} {}`},
			want: []string{"CONNECTOR_JSON_CONFIG is not valid JSON (data after the object)"}},
		{name: "bad date", env: map[string]string{"ELASTIC_IMPORT_FROM_DATE": "yesterday"},
			want: []string{`ELASTIC_IMPORT_FROM_DATE "yesterday" is not an ISO date: use e.g. 2024-01-31 or 2024-01-31T00:00:00Z`}},
		{name: "bad date (file)", file: "elastic_import_from_date: 31/01/2024\n", want: []string{`elastic_import_from_date "31/01/2024" is not an ISO date`}},
		{name: "bad start timestamp", file: "connector.start_timestamp: 'Wed, 22 Jun 2022 09:46:24 GMT'\n",
			want: []string{`connector.start_timestamp "Wed, 22 Jun 2022 09:46:24 GMT" is not a time in milliseconds since 1970`}},
		{name: "connector id not a UUID", env: map[string]string{"CONNECTOR_ID": "elastic-1"},
			want: []string{`CONNECTOR_ID "elastic-1" is not a UUID`, "uuidgen"}},
		{name: "connector type", env: map[string]string{"CONNECTOR_TYPE": "EXTERNAL_IMPORT"},
			want: []string{`CONNECTOR_TYPE "EXTERNAL_IMPORT" is not STREAM`, "set STREAM or remove it"}},
		{name: "log level", env: map[string]string{"CONNECTOR_LOG_LEVEL": "verbose"},
			want: []string{`CONNECTOR_LOG_LEVEL "verbose" is not a log level: use debug, info, warn or error`}},
		{name: "live stream id placeholder", file: "connector.live_stream_id: ChangeMe\n",
			want: []string{"connector.live_stream_id is the sample's placeholder", "Live streams"}},
		{name: "live stream id with a slash", env: map[string]string{"CONNECTOR_LIVE_STREAM_ID": "a/b"},
			want: []string{`CONNECTOR_LIVE_STREAM_ID "a/b" contains '/'`}},
		{name: "signals interval", file: "elastic.signals.query_interval: soon\n",
			want: []string{`elastic.signals.query_interval "soon" is not a duration: use e.g. 5m, 1h or 1d`}},
		{name: "signals query", file: "elastic.signals.query: 'match everything'\n",
			want: []string{"elastic.signals.query is not a JSON search body"}},
		{name: "label star mixed", env: map[string]string{"ELASTIC_IMPORT_LABEL": "*,c2"},
			want: []string{`ELASTIC_IMPORT_LABEL "*,c2" mixes "*"`}},
		{name: "max tlp", file: "elastic.max_tlp: ORANGE\n", want: []string{`elastic.max_tlp "ORANGE" is not a TLP level`}},
		{name: "hosts empty list", env: map[string]string{"ELASTICSEARCH_HOSTS": ", ,"},
			want: []string{"ELASTICSEARCH_HOSTS is empty"}},
		{name: "a list where one value is expected", file: "connector.name: [a, b]\n",
			want: []string{"connector.name is a list: give a single value"}},
		{name: "Elasticsearch variables with another output", file: "output.console.enabled: true\n",
			env:  map[string]string{"ELASTICSEARCH_HOSTS": "es:9200", "ELASTICSEARCH_PASSWORD": secret},
			want: []string{"ELASTICSEARCH_HOSTS sets output.elasticsearch but the configuration file's output is output.console", "ELASTICSEARCH_PASSWORD sets"}},
		{name: "every error at once", env: map[string]string{"OPENCTI_SSL_VERIFY": "maybe", "CONNECTOR_MODE": "json", "OPENCTI_TOKEN": secret},
			want: []string{"OPENCTI_SSL_VERIFY", "CONNECTOR_MODE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := yamlConfig(t, tt.file)
			before := c.FlattenedKeys()
			err := TranslateLegacy(c, envOf(tt.env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("secret in the error: %q", err)
			}
			if d := cmp.Diff(before, c.FlattenedKeys()); d != "" {
				t.Errorf("configuration changed on error:\n%s", d)
			}
		})
	}
}

// TestConnectorValidate: the beat's own openctibeat.connector keys.
func TestConnectorValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*ConnectorConfig)
		want string
	}{
		{name: "defaults", mod: func(*ConnectorConfig) {}},
		{name: "uuid", mod: func(c *ConnectorConfig) { c.ID = "9d4b0a1e-6b7c-4f3e-8a2d-1c5e7f9b3a60" }},
		{name: "bad id", mod: func(c *ConnectorConfig) { c.ID = "ChangeMe" }, want: `openctibeat.connector.id "ChangeMe" is not a UUID`},
		{name: "empty name", mod: func(c *ConnectorConfig) { c.Name = " " }, want: "openctibeat.connector.name is empty"},
		{name: "type", mod: func(c *ConnectorConfig) { c.Type = "INTERNAL_ENRICHMENT" }, want: `openctibeat.connector.type "INTERNAL_ENRICHMENT" is not STREAM`},
		{name: "confidence", mod: func(c *ConnectorConfig) { c.ConfidenceLevel = 101 }, want: "openctibeat.connector.confidence_level 101 is outside 0-100"},
		{name: "log level", mod: func(c *ConnectorConfig) { c.LogLevel = "warning" }, want: `openctibeat.connector.log_level "warning" is not debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConnectorConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
