package esindex

// Template is one composable index template.
type Template struct {
	Name     string
	Patterns []string
	Priority int
	// Settings and Mappings go under "template".
	Settings map[string]any
	Mappings map[string]any
	// Fallback, when set, is loaded in place of this template when the
	// engine rejects this one (see ECS).
	Fallback *Template
}

// Body is the template as sent to PUT /_index_template/<name>.
func (t Template) Body() map[string]any {
	return map[string]any{
		"index_patterns": t.Patterns,
		"priority":       t.Priority,
		"template": map[string]any{
			"settings": t.Settings,
			"mappings": t.Mappings,
		},
		"_meta": map[string]any{"managed_by": "openctibeat"},
	}
}

// STIX is the template of stix mode's index: the raw objects, with the
// common STIX properties typed and every other string a keyword.
func STIX(index string) Template {
	kw := map[string]any{"type": "keyword", "ignore_above": 1024}
	date := map[string]any{"type": "date"}
	long := map[string]any{"type": "long"}
	text := map[string]any{"type": "text"}
	boolean := map[string]any{"type": "boolean"}
	props := map[string]any{
		"@timestamp":          date,
		"id":                  kw,
		"type":                kw,
		"spec_version":        kw,
		"created":             date,
		"modified":            date,
		"valid_from":          date,
		"valid_until":         date,
		"first_seen":          date,
		"last_seen":           date,
		"first_observed":      date,
		"last_observed":       date,
		"published":           date,
		"start_time":          date,
		"stop_time":           date,
		"revoked":             boolean,
		"confidence":          long,
		"x_opencti_score":     long,
		"x_opencti_detection": boolean,
		"name":                map[string]any{"type": "keyword", "ignore_above": 1024, "fields": map[string]any{"text": text}},
		"description":         text,
		"pattern":             map[string]any{"type": "keyword", "ignore_above": 8191, "fields": map[string]any{"text": text}},
		"pattern_type":        kw,
		"labels":              kw,
		"created_by_ref":      kw,
		"object_marking_refs": kw,
		"source_ref":          kw,
		"target_ref":          kw,
		"relationship_type":   kw,
		"value":               kw,
	}
	return Template{
		Name:     index,
		Patterns: []string{index},
		Priority: 200,
		Settings: map[string]any{
			"index": map[string]any{
				"number_of_shards":           1,
				"mapping.total_fields.limit": 10000,
				"mapping.ignore_malformed":   true,
			},
		},
		Mappings: map[string]any{
			"date_detection": false,
			"dynamic_templates": []any{
				map[string]any{"strings": map[string]any{
					"match_mapping_type": "string",
					"mapping":            map[string]any{"type": "keyword", "ignore_above": 1024},
				}},
			},
			"properties": props,
		},
	}
}

// DeadLetter is the template of output.elasticsearch's dead letter index,
// where libbeat writes each document the engine refused for good as
// {"@timestamp", "message": <the document as sent, JSON>, "error.type":
// <HTTP status>, "error.message": <the engine's error, JSON>}, with the
// document's _id. A plain index (libbeat writes it with the document's
// operation, index, which a data stream refuses) with a fixed mapping
// (dynamic: false), so that nothing a refused document holds can be
// refused again here; the types exist on every engine.
func DeadLetter(index string) Template {
	text := map[string]any{"type": "text"}
	return Template{
		Name:     index,
		Patterns: []string{index},
		Priority: 250,
		Settings: map[string]any{"index": map[string]any{"number_of_shards": 1}},
		Mappings: map[string]any{
			"dynamic":        false,
			"date_detection": false,
			"_meta":          map[string]any{"managed_by": "openctibeat", "purpose": "documents the engine refused for good"},
			"properties": map[string]any{
				"@timestamp": map[string]any{"type": "date"},
				"message":    text,
				"error": map[string]any{"properties": map[string]any{
					"type":    map[string]any{"type": "keyword", "ignore_above": 1024},
					"message": text,
				}},
			},
		},
	}
}
