package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Skip reasons, used as metric names (skipped.<reason>_total).
const (
	ReasonMalformedAlert        = "malformed_alert"
	ReasonMissingTime           = "missing_time"
	ReasonMalformedEnrichment   = "malformed_enrichment"
	ReasonUnknownIndicator      = "unknown_indicator"
	ReasonRejectedByOpenCTI     = "rejected"
	maxEnrichmentsConsidered    = 200 // Kibana writes at most 200
	matchTypeIndicatorMatchRule = "indicator_match_rule"
)

var (
	errNoTime          = errors.New("neither kibana.alert.original_time, signal.original_time nor @timestamp holds a date")
	errNoEnrichment    = errors.New("neither threat.enrichments[] nor a threat.indicator[] entry with matched")
	errBadEnrichments  = errors.New("threat.enrichments is not an array of objects")
	errUselessEntries  = errors.New("no enrichment names an indicator id, a matched document or a matched value")
	errSourceNotObject = errors.New("_source is not a JSON object")
)

// SkipError is an alert that cannot become a sighting; Reason is one of the
// Reason* constants.
type SkipError struct {
	Reason string
	Err    error
}

func (e *SkipError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *SkipError) Unwrap() error { return e.Err }

func skip(reason string, err error) error { return &SkipError{Reason: reason, Err: err} }

// Hit is one search hit.
type Hit struct {
	ID     string          `json:"_id"`
	Index  string          `json:"_index"`
	Source json.RawMessage `json:"_source"`
	Sort   []any           `json:"sort"`
}

// Alert is an indicator-match alert, in the parts the sightings module uses.
type Alert struct {
	// ID is the alert's _id (kibana.alert.uuid in 8.x).
	ID    string
	Index string
	// Time is when the matched event happened: kibana.alert.original_time,
	// signal.original_time, else @timestamp. It becomes first/last seen.
	Time time.Time
	// Enrichments are the indicator matches, at most 200.
	Enrichments []Enrichment
}

// Enrichment is one indicator match of an alert.
type Enrichment struct {
	// IndicatorIDs are the values of the enrichment's indicator.id (for
	// openctibeat's ecs documents: OpenCTI's internal id and STIX id).
	IndicatorIDs []string
	// MatchedIndex and MatchedID locate the indicator document.
	MatchedIndex, MatchedID string
	// MatchedAtomic is the event value that matched; MatchedField its field.
	MatchedAtomic, MatchedField string
	// Legacy is set for a 7.12-7.14 threat.indicator[] entry (the others
	// come from threat.enrichments[]).
	Legacy bool
}

// MatchedPath is the alert field of the enrichment's matched.<leaf>, for
// logs: threat.enrichments.matched.<leaf>, or threat.indicator.matched.<leaf>.
func (e Enrichment) MatchedPath(leaf string) string {
	if e.Legacy {
		return "threat.indicator.matched." + leaf
	}
	return "threat.enrichments.matched." + leaf
}

func (e Enrichment) useful() bool {
	return len(e.IndicatorIDs) > 0 || (e.MatchedIndex != "" && e.MatchedID != "") || e.MatchedAtomic != ""
}

// Parse reads an alert from a hit. Errors are *SkipError.
func Parse(h Hit) (Alert, error) {
	var src any
	dec := json.NewDecoder(strings.NewReader(string(h.Source)))
	dec.UseNumber()
	if err := dec.Decode(&src); err != nil {
		return Alert{}, skip(ReasonMalformedAlert, fmt.Errorf("_source: %w", err))
	}
	m, ok := src.(map[string]any)
	if !ok {
		return Alert{}, skip(ReasonMalformedAlert, errSourceNotObject)
	}
	return ParseSource(h.ID, h.Index, m)
}

// ParseSource reads an alert from its decoded _source.
func ParseSource(id, index string, src map[string]any) (Alert, error) {
	a := Alert{ID: id, Index: index}
	t, ok := eventTime(src)
	if !ok {
		return Alert{}, skip(ReasonMissingTime, errNoTime)
	}
	a.Time = t
	enr, err := enrichments(src)
	if err != nil {
		return Alert{}, skip(ReasonMalformedEnrichment, err)
	}
	a.Enrichments = enr
	return a, nil
}

func eventTime(src map[string]any) (time.Time, bool) {
	for _, k := range []string{"kibana.alert.original_time", "signal.original_time", "@timestamp"} {
		if v, ok := Get(src, k); ok {
			if t, ok := ParseTime(v); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// ParseTime reads a date: an RFC 3339 string or epoch milliseconds. The
// result is in UTC, truncated to milliseconds (OpenCTI's precision).
func ParseTime(v any) (time.Time, bool) {
	var t time.Time
	switch x := v.(type) {
	case string:
		p, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
		if err != nil {
			ms, err2 := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err2 != nil {
				return time.Time{}, false
			}
			p = time.UnixMilli(ms)
		}
		t = p
	case json.Number:
		ms, err := x.Int64()
		if err != nil {
			f, err := x.Float64()
			if err != nil {
				return time.Time{}, false
			}
			ms = int64(f)
		}
		t = time.UnixMilli(ms)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return time.Time{}, false
		}
		t = time.UnixMilli(int64(x))
	default:
		return time.Time{}, false
	}
	if t.IsZero() || t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t.UTC().Truncate(time.Millisecond), true
}

func enrichments(src map[string]any) ([]Enrichment, error) {
	if raw, ok := Get(src, "threat.enrichments"); ok && raw != nil {
		entries, ok := asList(raw)
		if !ok {
			return nil, errBadEnrichments
		}
		return fromEntries(entries, false)
	}
	// 7.12-7.14: threat.indicator[] entries that carry "matched".
	if raw, ok := Get(src, "threat.indicator"); ok && raw != nil {
		entries, ok := asList(raw)
		if !ok {
			return nil, errNoEnrichment
		}
		var matched []any
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				if _, has := Get(m, "matched"); has {
					matched = append(matched, m)
				}
			}
		}
		if len(matched) == 0 {
			return nil, errNoEnrichment
		}
		return fromEntries(matched, true)
	}
	return nil, errNoEnrichment
}

// fromEntries reads enrichment entries; legacy entries are the indicator
// itself with "matched" inside.
func fromEntries(entries []any, legacy bool) ([]Enrichment, error) {
	var out []Enrichment
	objects := 0
	for i, raw := range entries {
		if i >= maxEnrichmentsConsidered {
			break
		}
		m, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		objects++
		e := Enrichment{Legacy: legacy}
		indicator := m
		if !legacy {
			indicator, _ = getMap(m, "indicator")
		}
		if indicator != nil {
			e.IndicatorIDs = Strings(indicator, "id")
		}
		if matched, ok := getMap(m, "matched"); ok {
			if typ := String(matched, "type"); typ != "" && typ != matchTypeIndicatorMatchRule {
				continue
			}
			e.MatchedIndex = String(matched, "index")
			e.MatchedID = String(matched, "id")
			e.MatchedAtomic = String(matched, "atomic")
			e.MatchedField = String(matched, "field")
		}
		if e.useful() {
			out = append(out, e)
		}
	}
	switch {
	case objects == 0:
		return nil, errBadEnrichments
	case len(out) == 0:
		return nil, errUselessEntries
	}
	return out, nil
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case map[string]any:
		return []any{x}, true
	}
	return nil, false
}

// Get returns the value at a dotted path, whether the document nests objects
// ({"a":{"b":1}}), uses dotted keys ({"a.b":1}) or mixes both.
func Get(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	// Try the longest dotted prefix that is a key, then descend.
	for i := len(path) - 1; i > 0; i-- {
		if path[i] != '.' {
			continue
		}
		v, ok := m[path[:i]]
		if !ok {
			continue
		}
		sub, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if r, ok := Get(sub, path[i+1:]); ok {
			return r, true
		}
	}
	return nil, false
}

func getMap(m map[string]any, path string) (map[string]any, bool) {
	v, ok := Get(m, path)
	if !ok {
		return nil, false
	}
	sub, ok := v.(map[string]any)
	return sub, ok
}

// String returns the string at path ("" when absent or not a string; the
// first string of an array).
func String(m map[string]any, path string) string {
	if s := Strings(m, path); len(s) > 0 {
		return s[0]
	}
	return ""
}

// Strings returns the non-empty strings at path: a string or an array of
// strings (numbers are formatted).
func Strings(m map[string]any, path string) []string {
	v, ok := Get(m, path)
	if !ok {
		return nil
	}
	var out []string
	add := func(x any) {
		switch s := x.(type) {
		case string:
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		case json.Number:
			out = append(out, s.String())
		}
	}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			add(x)
		}
	} else {
		add(v)
	}
	return out
}

// IndicatorDocIDs returns the OpenCTI ids an indicator document carries:
// threat.indicator.id (openctibeat's ecs documents: internal id and STIX id)
// and opencti.indicator.id.
func IndicatorDocIDs(doc map[string]any) []string {
	ids := Strings(doc, "opencti.indicator.id")
	ids = append(ids, Strings(doc, "threat.indicator.id")...)
	return ids
}
