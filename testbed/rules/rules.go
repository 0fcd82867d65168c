package rules

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/BurntSushi/toml"
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

// ruleFile is what the tests read of a rule file; other keys are ignored.
type ruleFile struct {
	Rule *struct {
		Type                string   `toml:"type"`
		ThreatLanguage      string   `toml:"threat_language"`
		RuleID              string   `toml:"rule_id"`
		Name                string   `toml:"name"`
		ThreatIndicatorPath string   `toml:"threat_indicator_path"`
		ThreatQuery         string   `toml:"threat_query"`
		ThreatIndex         []string `toml:"threat_index"`
		ThreatMapping       []struct {
			Entries []mappingEntry `toml:"entries"`
		} `toml:"threat_mapping"`
		ThreatFilters []threatFilter `toml:"threat_filters"`
	} `toml:"rule"`
}

// mappingEntry is one entry of a threat_mapping group.
type mappingEntry struct {
	Field string `toml:"field"`
	Type  string `toml:"type"`
	Value string `toml:"value"`
}

// threatFilter is one of a rule's threat_filters, as Kibana stores it.
type threatFilter struct {
	Meta struct {
		Disabled bool `toml:"disabled"`
		Negate   bool `toml:"negate"`
	} `toml:"meta"`
	Query map[string]any `toml:"query"`
}

// parse reads one rule file.
func parse(src string) (Rule, error) {
	var doc ruleFile
	if _, err := toml.Decode(src, &doc); err != nil {
		return Rule{}, err
	}
	rule := doc.Rule
	if rule == nil {
		return Rule{}, errors.New("no [rule] table")
	}
	var errs []error
	required := func(key, v string) string {
		if v == "" {
			errs = append(errs, fmt.Errorf("rule.%s: missing", key))
		}
		return v
	}
	for _, c := range []struct{ key, got, want string }{
		{"type", rule.Type, "threat_match"},
		{"threat_language", rule.ThreatLanguage, "kuery"},
	} {
		if c.got != c.want {
			errs = append(errs, fmt.Errorf("rule.%s is %q, want %q", c.key, c.got, c.want))
		}
	}
	r := Rule{
		ID:                  required("rule_id", rule.RuleID),
		Name:                required("name", rule.Name),
		ThreatIndicatorPath: required("threat_indicator_path", rule.ThreatIndicatorPath),
		ThreatQuery:         required("threat_query", rule.ThreatQuery),
		ThreatIndex:         rule.ThreatIndex,
	}
	if len(r.ThreatIndex) == 0 {
		errs = append(errs, errors.New("rule.threat_index: missing"))
	}
	var err error
	groups := make([][]mappingEntry, len(rule.ThreatMapping))
	for i, g := range rule.ThreatMapping {
		groups[i] = g.Entries
	}
	r.Mappings, err = mappings(groups)
	errs = append(errs, err)
	r.ThreatQueryDSL, err = threatQueryDSL(r.ThreatQuery, rule.ThreatFilters)
	errs = append(errs, err)
	return r, errors.Join(errs...)
}

// mappings reads threat_mapping: an array of groups, each an array of
// entries that must all match. Each group here has one entry, so the
// groups are alternatives; a group of several (AND) entries is refused
// rather than flattened into alternatives.
func mappings(groups [][]mappingEntry) ([]Mapping, error) {
	if len(groups) == 0 {
		return nil, errors.New("rule.threat_mapping: missing")
	}
	var out []Mapping
	for i, entries := range groups {
		if len(entries) != 1 {
			return nil, fmt.Errorf("rule.threat_mapping[%d]: %d entries; only groups of one entry are supported", i, len(entries))
		}
		e := entries[0]
		if e.Type != "mapping" || e.Field == "" || e.Value == "" {
			return nil, fmt.Errorf("rule.threat_mapping[%d]: entry %+v is not a mapping of a field to a value", i, e)
		}
		out = append(out, Mapping{SourceField: e.Field, IndicatorField: e.Value})
	}
	return out, nil
}

// threatQueryDSL is @kbn/es-query's buildEsQuery of the threat query and
// the enabled threat filters, with the empty clauses left out, decoded from
// JSON (numbers are float64).
func threatQueryDSL(kql string, filters []threatFilter) (map[string]any, error) {
	q, err := kqlToDSL(kql)
	if err != nil {
		return nil, fmt.Errorf("rule.threat_query: %w", err)
	}
	filter, mustNot := []any{q}, []any{}
	for i, f := range filters {
		if len(f.Query) != 1 {
			return nil, fmt.Errorf("rule.threat_filters[%d]: no query", i)
		}
		switch {
		case f.Meta.Disabled:
		case f.Meta.Negate:
			mustNot = append(mustNot, f.Query)
		default:
			filter = append(filter, f.Query)
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
