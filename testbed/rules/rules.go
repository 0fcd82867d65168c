package rules

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
)

//go:embed testdata/*.toml
var ruleFiles embed.FS

// Rule is one prebuilt indicator-match rule, as far as it concerns the
// indicator documents.
type Rule struct {
	// File is the rule's file name in testdata/.
	File string
	// ID is the rule's rule_id.
	ID   string
	Name string
	// ThreatIndex lists the index patterns the rule reads indicators from.
	ThreatIndex []string
	// ThreatIndicatorPath is where the indicator is in an indicator
	// document (threat.indicator).
	ThreatIndicatorPath string
	// ThreatQuery is the rule's KQL threat query as written.
	ThreatQuery string
	// ThreatQueryDSL is the query DSL Kibana sends for ThreatQuery and the
	// rule's threat_filters (see the package documentation), as decoded
	// from JSON.
	ThreatQueryDSL map[string]any
	// Mappings are the rule's alternatives: an event matches when one
	// mapping's source field equals the indicator field of an indicator
	// document.
	Mappings []Mapping
}

// Mapping is one threat_mapping entry.
type Mapping struct {
	SourceField    string // the event's field, such as source.ip
	IndicatorField string // the indicator document's field, such as threat.indicator.ip
}

// Load returns the rules in testdata/, sorted by file name.
func Load() ([]Rule, error) {
	entries, err := ruleFiles.ReadDir("testdata")
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".toml" {
			continue
		}
		b, err := ruleFiles.ReadFile(path.Join("testdata", e.Name()))
		if err != nil {
			return nil, err
		}
		r, err := parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		r.File = e.Name()
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// parse reads one rule file.
func parse(src string) (Rule, error) {
	doc, err := decodeTOML(src)
	if err != nil {
		return Rule{}, err
	}
	rule, ok := doc["rule"].(map[string]any)
	if !ok {
		return Rule{}, errors.New("no [rule] table")
	}
	var r Rule
	var errs []error
	str := func(key string) string {
		s, ok := rule[key].(string)
		if !ok {
			errs = append(errs, fmt.Errorf("rule.%s: missing or not a string", key))
		}
		return s
	}
	for key, want := range map[string]string{"type": "threat_match", "threat_language": "kuery"} {
		if got := str(key); got != want {
			errs = append(errs, fmt.Errorf("rule.%s is %q, want %q", key, got, want))
		}
	}
	r.ID, r.Name = str("rule_id"), str("name")
	r.ThreatIndicatorPath = str("threat_indicator_path")
	r.ThreatQuery = str("threat_query")
	idx, _ := rule["threat_index"].([]any)
	for _, i := range idx {
		if s, ok := i.(string); ok {
			r.ThreatIndex = append(r.ThreatIndex, s)
		} else {
			errs = append(errs, fmt.Errorf("rule.threat_index: %v is not a string", i))
		}
	}
	if len(r.ThreatIndex) == 0 {
		errs = append(errs, errors.New("rule.threat_index: missing"))
	}
	r.Mappings, err = mappings(rule["threat_mapping"])
	errs = append(errs, err)
	filters, _ := rule["threat_filters"].([]any)
	r.ThreatQueryDSL, err = threatQueryDSL(r.ThreatQuery, filters)
	errs = append(errs, err)
	return r, errors.Join(errs...)
}

// mappings reads threat_mapping: an array of groups, each an array of
// entries that must all match. Each group here has one entry, so the
// groups are alternatives; a group of several (AND) entries is refused
// rather than flattened into alternatives.
func mappings(v any) ([]Mapping, error) {
	groups, ok := v.([]any)
	if !ok || len(groups) == 0 {
		return nil, errors.New("rule.threat_mapping: missing")
	}
	var out []Mapping
	for i, g := range groups {
		gm, _ := g.(map[string]any)
		entries, _ := gm["entries"].([]any)
		if len(entries) != 1 {
			return nil, fmt.Errorf("rule.threat_mapping[%d]: %d entries; only groups of one entry are supported", i, len(entries))
		}
		e, _ := entries[0].(map[string]any)
		field, _ := e["field"].(string)
		value, _ := e["value"].(string)
		if e["type"] != "mapping" || field == "" || value == "" {
			return nil, fmt.Errorf("rule.threat_mapping[%d]: entry %v is not a mapping of a field to a value", i, e)
		}
		out = append(out, Mapping{SourceField: field, IndicatorField: value})
	}
	return out, nil
}

// threatQueryDSL is @kbn/es-query's buildEsQuery of the threat query and
// the enabled threat filters, with the empty clauses left out, decoded from
// JSON (numbers are float64).
func threatQueryDSL(kql string, filters []any) (map[string]any, error) {
	q, err := kqlToDSL(kql)
	if err != nil {
		return nil, fmt.Errorf("rule.threat_query: %w", err)
	}
	filter, mustNot := []any{q}, []any{}
	for i, f := range filters {
		fm, _ := f.(map[string]any)
		meta, _ := fm["meta"].(map[string]any)
		query, ok := fm["query"].(map[string]any)
		if !ok || len(query) != 1 {
			return nil, fmt.Errorf("rule.threat_filters[%d]: no query", i)
		}
		if meta["disabled"] == true {
			continue
		}
		if meta["negate"] == true {
			mustNot = append(mustNot, query)
		} else {
			filter = append(filter, query)
		}
	}
	b := map[string]any{"filter": filter}
	if len(mustNot) > 0 {
		b["must_not"] = mustNot
	}
	raw, err := json.Marshal(map[string]any{"bool": b})
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// IndicatorFields returns the indicator fields the rules match on, sorted,
// each once.
func IndicatorFields(rules []Rule) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rules {
		for _, m := range r.Mappings {
			if !seen[m.IndicatorField] {
				seen[m.IndicatorField] = true
				out = append(out, m.IndicatorField)
			}
		}
	}
	sort.Strings(out)
	return out
}
