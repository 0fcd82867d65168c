package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/openctibeat/openctibeat/filter"
	"github.com/openctibeat/openctibeat/opencti"
)

// rule translates one key of the old connector's configuration (and its
// environment variable) into the beat's keys.
type rule struct {
	// key is the old key, dotted, as in the old config.yml.
	key string
	// env is its environment variable ("" when it had none).
	env string
	// native marks a key that is already libbeat's (cloud.*,
	// output.elasticsearch.hosts, ...): in the file it stays where it is;
	// from the environment or CONNECTOR_JSON_CONFIG it is set there.
	native bool
	// raw names the one target a file or JSON value is moved to
	// unresolved, so that ${VAR} and keystore references keep working (the
	// keystore is not open yet when the file is translated); conv then only
	// checks the value when it can be read. The target's last name is the
	// key's last name.
	raw string
	// conv checks the value and returns the beat keys to set. A nil conv
	// marks a key with no equivalent: it is dropped and why is logged.
	conv func(in input) ([]assign, error)
	// why says, for a key with no equivalent, why it is dropped.
	why string
}

// input is one old value and where it came from.
type input struct {
	// v is a string, bool, int64, uint64, float64, []any or map[string]any
	// (environment variables are strings).
	v any
	// name is the key as the user wrote it: "connector.mode",
	// "CONNECTOR_MODE" or "CONNECTOR_JSON_CONFIG connector.mode".
	name  string
	layer layer
}

// assign sets (or, with del, removes) one beat key.
type assign struct {
	target string
	value  any
	del    bool
}

func set(target string, v any) assign { return assign{target: target, value: v} }

// dropped is returned by a conversion for a value it ignores on purpose:
// the key is reported as ignored, with this reason, not as an error.
type dropped string

func (d dropped) Error() string { return string(d) }

// Beat keys the rules write.
const (
	keyOpenCTI   = Section + ".opencti."
	keyConnector = Section + ".connector."
	keyStream    = Section + ".stream."
	keySightings = Section + ".sightings."
	keyFilter    = Section + ".filter."
)

// placeholder is the old sample configuration's "fill me in" value.
const placeholder = "ChangeMe"

// rules, in order: when two old keys of the same source set the same beat
// key, the later rule wins (elastic_import_from_date over
// connector.start_timestamp).
var rules = []rule{
	// OpenCTI.
	{key: "opencti.url", env: "OPENCTI_URL", raw: keyOpenCTI + "url", conv: convURL},
	{key: "opencti.token", env: "OPENCTI_TOKEN", raw: keyOpenCTI + "token", conv: convString(keyOpenCTI + "token")},
	{key: "opencti.ssl_verify", env: "OPENCTI_SSL_VERIFY", conv: convVerify(keyOpenCTI + "ssl.verification_mode")},
	{key: "opencti.json_logging", env: "OPENCTI_JSON_LOGGING", why: "libbeat's logging.json sets the log format"},

	// Connector identity.
	{key: "connector.id", env: "CONNECTOR_ID", conv: convConnectorID},
	{key: "connector.name", env: "CONNECTOR_NAME", conv: convString(keyConnector + "name")},
	{key: "connector.scope", env: "CONNECTOR_SCOPE", conv: convScope},
	{key: "connector.type", env: "CONNECTOR_TYPE", conv: convConnectorType},
	{key: "connector.confidence_level", env: "CONNECTOR_CONFIDENCE_LEVEL", conv: convConfidence},
	{key: "connector.log_level", env: "CONNECTOR_LOG_LEVEL", conv: convLogLevel},
	{key: "connector.mode", env: "CONNECTOR_MODE", conv: convMode},

	// Live stream.
	{key: "connector.live_stream_id", env: "CONNECTOR_LIVE_STREAM_ID", conv: convStreamID},
	{key: "connector.live_stream_listen_delete", env: "CONNECTOR_LIVE_STREAM_LISTEN_DELETE", conv: convBool(keyStream + "listen_delete")},
	{key: "connector.live_stream_no_dependencies", env: "CONNECTOR_LIVE_STREAM_NO_DEPENDENCIES", conv: convBool(keyStream + "no_dependencies")},
	{key: "connector.live_stream_with_inferences", env: "CONNECTOR_LIVE_STREAM_WITH_INFERENCES", conv: convBool(keyStream + "with_inferences")},
	{key: "connector.start_timestamp", conv: convStartTimestamp},
	{key: "elastic.import_from_date", conv: convImportDate},
	{key: "elastic_import_from_date", env: "ELASTIC_IMPORT_FROM_DATE", conv: convImportDate},

	// Filters.
	{key: "elastic.import_label", env: "ELASTIC_IMPORT_LABEL", conv: convImportLabel},
	{key: "elastic.max_tlp", conv: convMaxTLP},
	{key: "elastic.indicator_types", why: "it listed the pattern types the old connector indexed (only stix); the beat indexes every pattern type (use openctibeat.filter.types to select observable types)"},

	// Sightings (the old "signals").
	{key: "connector.entity_name", conv: convString(keySightings + "identity.name")},
	{key: "connector.entity_description", conv: convString(keySightings + "identity.description")},
	{key: "elastic.signals.query_interval", conv: convDuration(keySightings + "interval")},
	{key: "elastic.signals.lookback_interval", conv: convDuration(keySightings + "first_lookback")},
	{key: "elastic.signals.signal_index", conv: convList(keySightings + "indices")},
	{key: "elastic.signals.query", conv: convSignalsQuery},
	{key: "elastic.sightings_tlp", conv: convSightingsTLP},

	// Elasticsearch (libbeat's own keys).
	{key: "cloud.id", env: "CLOUD_ID", native: true, conv: convString("cloud.id")},
	{key: "cloud.auth", env: "CLOUD_AUTH", native: true, conv: convString("cloud.auth")},
	{key: "output.elasticsearch.hosts", env: "ELASTICSEARCH_HOSTS", native: true, conv: convList("output.elasticsearch.hosts")},
	{key: "output.elasticsearch.api_key", env: "ELASTICSEARCH_APIKEY", native: true, conv: convString("output.elasticsearch.api_key")},
	{key: "output.elasticsearch.username", env: "ELASTICSEARCH_USERNAME", native: true, conv: convString("output.elasticsearch.username")},
	{key: "output.elasticsearch.password", env: "ELASTICSEARCH_PASSWORD", native: true, conv: convString("output.elasticsearch.password")},
	{key: "output.elasticsearch.ssl_verify", env: "ELASTICSEARCH_SSL_VERIFY", conv: convVerify("output.elasticsearch.ssl.verification_mode")},
	{key: "output.elasticsearch.reduced_privileges", why: "the beat's output needs no such switch"},
	{key: "output.include_labels", why: "ecs mode always writes an indicator's labels to tags and opencti.indicator.labels"},
}

// legacySections are the keys that exist only in an old configuration;
// any of them marks a file as the old connector's.
var legacySections = []string{"opencti", "connector", "elastic", "elastic_import_from_date", "output.include_labels",
	"output.elasticsearch.ssl_verify", "output.elasticsearch.reduced_privileges"}

// oldSetupKeys are the keys of an old file whose values mean something else
// to the beat: dropped from an old file and from CONNECTOR_JSON_CONFIG.
var oldSetupKeys = []struct{ key, why string }{
	{"output.elasticsearch.index", "the beat writes to openctibeat.ecs.index (ecs mode) or openctibeat.stix.index (stix mode)"},
	{"setup.ilm", "the beat writes plain indices without index lifecycle management; setup.ilm.enabled is set to false"},
	{"setup.template.name", "the beat names its index templates after its indices"},
	{"setup.template.pattern", "the beat derives its templates' patterns from its indices"},
}

// --- value conversions ---

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "empty"
	}
	return reflect.TypeOf(v).String()
}

// str reads a single value as a string.
func str(in input) (string, error) {
	switch v := in.v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%s is %s: give a single value", in.name, kindOf(in.v))
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "on", "1":
		return true, true
	case "false", "no", "n", "off", "0":
		return false, true
	}
	return false, false
}

func boolean(in input) (bool, error) {
	if b, ok := in.v.(bool); ok {
		return b, nil
	}
	s, err := str(in)
	if err != nil {
		return false, err
	}
	b, ok := parseBool(s)
	if !ok {
		return false, fmt.Errorf("%s %q is not a boolean: use true or false", in.name, s)
	}
	return b, nil
}

func integer(in input) (int64, error) {
	switch v := in.v.(type) {
	case int64:
		return v, nil
	case uint64:
		if v <= 1<<62 {
			return int64(v), nil
		}
	case float64:
		if v == float64(int64(v)) {
			return int64(v), nil
		}
	}
	s, err := str(in)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a whole number", in.name, s)
	}
	return n, nil
}

// list reads a list, or a comma-separated string, of strings.
func list(in input) ([]string, error) {
	var items []string
	if arr, ok := in.v.([]any); ok {
		for i, x := range arr {
			s, err := str(input{v: x, name: fmt.Sprintf("%s[%d]", in.name, i)})
			if err != nil {
				return nil, err
			}
			items = append(items, s)
		}
	} else {
		s, err := str(in)
		if err != nil {
			return nil, err
		}
		items = strings.Split(s, ",")
	}
	out := make([]string, 0, len(items))
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

func convString(target string) func(input) ([]assign, error) {
	return func(in input) ([]assign, error) {
		s, err := str(in)
		if err != nil {
			return nil, err
		}
		return []assign{set(target, s)}, nil
	}
}

func convBool(target string) func(input) ([]assign, error) {
	return func(in input) ([]assign, error) {
		b, err := boolean(in)
		if err != nil {
			return nil, err
		}
		return []assign{set(target, b)}, nil
	}
}

func convList(target string) func(input) ([]assign, error) {
	return func(in input) ([]assign, error) {
		l, err := list(in)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			return nil, fmt.Errorf("%s is empty: give at least one value or remove it", in.name)
		}
		return []assign{set(target, l)}, nil
	}
}

// convVerify maps ssl_verify to libbeat's TLS verification mode.
func convVerify(target string) func(input) ([]assign, error) {
	return func(in input) ([]assign, error) {
		b, err := boolean(in)
		if err != nil {
			return nil, err
		}
		mode := "full"
		if !b {
			mode = "none"
		}
		return []assign{set(target, mode)}, nil
	}
}

func convURL(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	if u, perr := url.Parse(s); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q is not an http(s) URL: set it to OpenCTI's base URL, e.g. https://opencti.example.com", in.name, opencti.RedactURL(s))
	}
	return []assign{set(keyOpenCTI+"url", s)}, nil
}

func convConnectorID(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "" || strings.EqualFold(s, placeholder):
		return nil, dropped("it is empty or the sample's placeholder: the beat does not register with OpenCTI; set a UUID to register it")
	case !uuidRe.MatchString(s):
		return nil, fmt.Errorf("%s %q is not a UUID: OpenCTI registers connectors by UUID; generate one (uuidgen) or remove it", in.name, s)
	}
	return []assign{set(keyConnector+"id", s)}, nil
}

func convScope(in input) ([]assign, error) {
	l, err := list(in)
	if err != nil {
		return nil, err
	}
	return []assign{set(keyConnector+"scope", strings.Join(l, ","))}, nil
}

func convConnectorType(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(strings.TrimSpace(s), ConnectorTypeStream) {
		return nil, fmt.Errorf("%s %q is not STREAM: the beat is a stream connector (it reads a live stream; the other connector types are driven by work queues it does not read); set STREAM or remove it", in.name, s)
	}
	return []assign{set(keyConnector+"type", ConnectorTypeStream)}, nil
}

// legacyConfidence maps the old 1-4 confidence scale to 0-100: evenly
// spaced quarters, so that 4 (confirmed) is full confidence and 2 (medium)
// OpenCTI's "moderate" 50.
var legacyConfidence = map[int64]int64{1: 25, 2: 50, 3: 75, 4: 100}

// convConfidence accepts the old 1-4 scale and 0-100. 5-9 are refused:
// neither scale gives them a sensible meaning (they come from some other
// small scale, 1-5 or 1-10), and reading them as 5-9 % would silently
// turn a "high" into almost no confidence.
func convConfidence(in input) ([]assign, error) {
	n, err := integer(in)
	if err != nil {
		return nil, fmt.Errorf("%w: use 1-4 (old scale) or 0-100", err)
	}
	switch {
	case legacyConfidence[n] != 0:
		n = legacyConfidence[n]
	case n >= 5 && n <= 9:
		return nil, fmt.Errorf("%s %d is ambiguous: 1-4 is the old scale (1 low=25, 2 medium=50, 3 high=75, 4 confirmed=100) and 0-100 the new one; write the 0-100 value, e.g. 50", in.name, n)
	case n < 0 || n > 100:
		return nil, fmt.Errorf("%s %d is outside 0-100: use 1-4 (old scale) or 0-100", in.name, n)
	}
	return []assign{set(keyConnector+"confidence_level", n), set(keySightings+"confidence", n)}, nil
}

// logLevels maps the old (Python) level names to the beat's and to
// libbeat's logging.level.
var logLevels = map[string][2]string{
	"trace": {"debug", "debug"}, "debug": {"debug", "debug"},
	"info": {"info", "info"},
	"warn": {"warn", "warning"}, "warning": {"warn", "warning"},
	"error": {"error", "error"}, "critical": {"error", "error"}, "fatal": {"error", "error"},
}

func convLogLevel(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return nil, fmt.Errorf("%s %q is not a log level: use debug, info, warn or error", in.name, s)
	}
	return []assign{set(keyConnector+"log_level", l[0]), set("logging.level", l[1])}, nil
}

func convMode(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case ModeECS:
		return []assign{set(Section+".mode", ModeECS)}, nil
	case "ecs_no_signals":
		return []assign{set(Section+".mode", ModeECS), set(keySightings+"enabled", false)}, nil
	case ModeSTIX:
		return []assign{set(Section+".mode", ModeSTIX)}, nil
	}
	return nil, fmt.Errorf("%s %q is unknown: use ecs (ECS threat indicators, with sightings), ecs_no_signals (ecs without sightings) or stix (raw STIX objects)", in.name, s)
}

func convStreamID(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, placeholder) {
		return nil, fmt.Errorf("%s is the sample's placeholder %q: set the id of the OpenCTI live stream (Data > Data sharing > Live streams), or remove it to read the raw stream", in.name, placeholder)
	}
	if strings.ContainsAny(s, "/?#") {
		return nil, fmt.Errorf("%s %q contains '/', '?' or '#': set the live stream's id as OpenCTI shows it", in.name, s)
	}
	return []assign{set(keyStream+"id", s)}, nil
}

var digitsRe = regexp.MustCompile(`^[0-9]{1,16}$`)

func convStartTimestamp(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	if !digitsRe.MatchString(s) {
		return nil, fmt.Errorf("%s %q is not a time in milliseconds since 1970 (e.g. 1655890657402): fix it or remove it", in.name, s)
	}
	return []assign{set(Section+".start.from", s+"-0")}, nil
}

// dateLayouts are the ISO 8601 forms accepted for the import date; a date
// without a zone is UTC.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"}

func convImportDate(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, perr := time.Parse(l, s); perr == nil {
			return []assign{set(Section+".start.from", t.UTC().Format("2006-01-02T15:04:05.000Z"))}, nil
		}
	}
	return nil, fmt.Errorf("%s %q is not an ISO date: use e.g. 2024-01-31 or 2024-01-31T00:00:00Z", in.name, s)
}

func convImportLabel(in input) ([]assign, error) {
	l, err := list(in)
	if err != nil {
		return nil, err
	}
	for _, x := range l {
		if x == "*" {
			if len(l) > 1 {
				return nil, fmt.Errorf("%s %q mixes \"*\" (every indicator) with labels: give either * or the labels to import", in.name, strings.Join(l, ","))
			}
			return []assign{{target: keyFilter + "labels", del: true}}, nil
		}
	}
	if len(l) == 0 {
		return []assign{{target: keyFilter + "labels", del: true}}, nil
	}
	return []assign{set(keyFilter+"labels", l)}, nil
}

func convMaxTLP(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	level, ok := filter.TLPLevel(s)
	if !ok {
		return nil, fmt.Errorf("%s %q is not a TLP level: use CLEAR, WHITE, GREEN, AMBER, AMBER+STRICT or RED", in.name, s)
	}
	return []assign{set(keyFilter+"tlp_ceiling", level)}, nil
}

// elasticDurationRe is the old connector's interval syntax: 1w2d3h4m5s.
var elasticDurationRe = regexp.MustCompile(`^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$`)

func parseOldDuration(s string) (time.Duration, bool) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, true
	}
	m := elasticDurationRe.FindStringSubmatch(s)
	if m == nil || s == "" {
		return 0, false
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, u := range units {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, false
			}
			d += time.Duration(n) * u
		}
	}
	return d, true
}

func convDuration(target string) func(input) ([]assign, error) {
	return func(in input) ([]assign, error) {
		s, err := str(in)
		if err != nil {
			return nil, err
		}
		d, ok := parseOldDuration(strings.TrimSpace(s))
		if !ok || d <= 0 {
			return nil, fmt.Errorf("%s %q is not a duration: use e.g. 5m, 1h or 1d", in.name, s)
		}
		return []assign{set(target, d.String())}, nil
	}
}

// oldDefaultQuery is the old connector's signals query clause (7.x alerts
// only: signal.rule.type does not exist in 8.x alerts).
const oldDefaultQuery = `{"bool":{"must":{"match":{"signal.rule.type":"threat_match"}}}}`

func convSignalsQuery(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(s), &body); err != nil || len(body) == 0 {
		return nil, fmt.Errorf("%s is not a JSON search body: give {\"query\": {...}} as the old connector did", in.name)
	}
	clause := body
	if q, ok := body["query"].(map[string]any); ok && len(body) == 1 {
		clause = q
	}
	out, _ := json.Marshal(clause)
	if string(out) == oldDefaultQuery {
		return nil, dropped("it is the old default, which reads signal.rule.type (7.x alerts only): the sightings module selects indicator match alerts itself")
	}
	return []assign{set(keySightings+"query", string(out))}, nil
}

func convSightingsTLP(in input) ([]assign, error) {
	s, err := str(in)
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(s)
	if level, ok := filter.TLPLevel(s); ok {
		s = "TLP:" + level
	}
	return []assign{set(keySightings+"marking", s)}, nil
}

// LegacyEnvVars lists the environment variables the translation reads
// (CONNECTOR_JSON_CONFIG included): a harness that runs the beat with its
// own configuration file clears them, since they override the file.
func LegacyEnvVars() []string {
	out := []string{EnvJSONConfig}
	for _, r := range rules {
		if r.env != "" {
			out = append(out, r.env)
		}
	}
	return out
}
