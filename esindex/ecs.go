package esindex

import (
	"fmt"

	"github.com/elastic/beats/v7/libbeat/template"
	"github.com/elastic/elastic-agent-libs/mapstr"
	"github.com/elastic/elastic-agent-libs/version"

	"github.com/openctibeat/openctibeat/internal/deepcopy"
)

// Defaults of ecs mode's index. The index is a plain index (documents are
// replaced and deleted by _id), named like a data stream of a "ti_"
// integration so that Elastic Security's indicator-match rules, whose
// threat index is logs-ti_*, read it. Its template must win over
// Elasticsearch's built-in "logs" template (pattern logs-*-*, priority 100,
// data stream), hence a higher priority and no data_stream, and must not
// overlap Elastic's ti_opencti integration (logs-ti_opencti.*).
const (
	ECSIndex        = "logs-ti_openctibeat.indicator-default"
	ECSTemplateName = "logs-ti_openctibeat.indicator"
	ECSPattern      = "logs-ti_openctibeat.indicator-*"
	ECSPriority     = 250
)

// ECSVersion is the ECS version _meta/fields.yml declares its ECS fields as.
const ECSVersion = "9.4.0"

// fallbackTypes are the field types the fallback variant replaces:
// Elasticsearch types (some under its Basic license) that OpenSearch 2.x
// lacks, as do older Elasticsearch releases (flattened came in 7.3,
// constant_keyword in 7.7, wildcard in 7.9, match_only_text in 7.14).
var fallbackTypes = map[string]bool{
	"wildcard":         true,
	"constant_keyword": true,
	"match_only_text":  true,
	"flattened":        true,
}

// ECS is the template of ecs mode's index: name is the template's name (such
// as ECSTemplateName) and pattern its only index pattern (such as
// ECSPattern). Its mappings are built from _meta/fields.yml by libbeat's
// template processor, with:
//
//   - dynamic: false: a field absent from fields.yml is kept in _source (so
//     nothing is lost and Discover shows it) but neither mapped nor indexed.
//     Unlike dynamic: true, the first document's JSON shape can never fix a
//     field's type (a later document with another shape would be rejected)
//     and the mapping cannot grow with arbitrary keys; unlike strict, a
//     document with an unexpected field (a user's add_fields processor, a
//     newer mapper) is still written rather than rejected.
//   - date_detection: false: no string is ever guessed to be a date.
//
// Its Fallback is the same template with wildcard -> keyword (ignore_above
// 8191), constant_keyword -> keyword, match_only_text -> text and
// flattened -> object (enabled: false), for engines that reject those types
// (OpenSearch 2.5). ECS panics if the embedded fields.yml is invalid, which
// the package's tests rule out.
func ECS(name, pattern string) Template {
	props, err := ecsProperties()
	if err != nil {
		panic(fmt.Sprintf("esindex: embedded fields.yml: %v", err))
	}
	main := ecsTemplate(name, pattern, props, "main")
	fb := ecsTemplate(name, pattern, fallback(props).(map[string]any), "fallback")
	main.Fallback = &fb
	return main
}

func ecsTemplate(name, pattern string, props map[string]any, variant string) Template {
	return Template{
		Name:     name,
		Patterns: []string{pattern},
		Priority: ECSPriority,
		Settings: map[string]any{
			"index": map[string]any{
				"number_of_shards": 1,
				// As Elasticsearch's logs@settings: a malformed value (an
				// address that is not one) drops that field, not the
				// indicator.
				"mapping.ignore_malformed": true,
			},
		},
		Mappings: map[string]any{
			"dynamic":        false,
			"date_detection": false,
			"_meta": map[string]any{
				"managed_by":  "openctibeat",
				"ecs_version": ECSVersion,
				"variant":     variant,
			},
			"properties": props,
		},
	}
}

// ecsProperties returns the mapping properties of fields.yml, as libbeat's
// template processor builds them for a recent Elasticsearch.
func ecsProperties() (map[string]any, error) {
	fields, err := Fields()
	if err != nil {
		return nil, err
	}
	p := template.Processor{EsVersion: *version.MustNew(ECSVersion), ElasticLicensed: true}
	out := mapstr.M{}
	if err := p.Process(fields, nil, out, mapstr.M{}); err != nil {
		return nil, err
	}
	return deepcopy.Object(out), nil
}

// fallback returns a deep copy of a mapping (or any part of one) in which
// every field of a type in fallbackTypes has the closest type OpenSearch
// knows, keeping its multi-fields. A "type" key whose value is an object is
// a property named type, not a field type, and is walked like any other.
func fallback(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = fallback(e)
		}
		if t, ok := out["type"].(string); ok && fallbackTypes[t] {
			out = fallbackField(t, out)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = fallback(e)
		}
		return out
	default:
		return v
	}
}

// fallbackField is field f of type t rewritten; only its multi-fields
// (already rewritten) carry over, since the other parameters of t may not
// exist for the new type.
func fallbackField(t string, f map[string]any) map[string]any {
	var out map[string]any
	switch t {
	case "wildcard":
		// A wildcard field indexes values of any length; 8191 characters
		// is the longest value that always fits Lucene's 32766-byte term
		// limit (4 bytes per character at worst in UTF-8).
		out = map[string]any{"type": "keyword", "ignore_above": 8191}
	case "constant_keyword":
		out = map[string]any{"type": "keyword", "ignore_above": 1024}
	case "match_only_text":
		// As libbeat's processor does for engines without it.
		out = map[string]any{"type": "text", "norms": false}
	case "flattened":
		return map[string]any{"type": "object", "enabled": false}
	}
	if mf, ok := f["fields"].(map[string]any); ok {
		out["fields"] = mf
	}
	return out
}
