package config

import "strings"

// WithoutLegacyEnv returns environ without the old connector's variables
// (OPENCTI_URL, ELASTICSEARCH_HOSTS, CONNECTOR_JSON_CONFIG, ...), which
// override the configuration file: for running the beat from tests and the
// demo with exactly the configuration they write.
func WithoutLegacyEnv(environ []string) []string {
	drop := map[string]bool{}
	for _, k := range LegacyEnvVars() {
		drop[k] = true
	}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}
