package ecsmode

import (
	"strings"
	"time"

	"github.com/openctibeat/openctibeat/stix"
)

// tlp is a Traffic Light Protocol marking; rank orders restrictiveness.
type tlp struct {
	name, version string
	rank          int
}

// TLP marking definitions have fixed ids in OpenCTI.
var tlpMarkings = map[string]tlp{
	"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": {"CLEAR", "2.0", 1},
	"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": {"GREEN", "2.0", 2},
	"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": {"AMBER", "2.0", 3},
	"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": {"AMBER+STRICT", "2.0", 4},
	"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": {"RED", "2.0", 5},
}

// ECSVersion is the ECS version the documents follow.
const ECSVersion = "9.4.0"

// Confidence maps STIX confidence (0-100) to ECS's scale, as Elastic's
// threat intelligence integrations do.
func Confidence(v any) string {
	n, ok := v.(float64)
	switch {
	case !ok:
		return "Not Specified"
	case n <= 0:
		return "None"
	case n < 30:
		return "Low"
	case n < 70:
		return "Medium"
	default:
		return "High"
	}
}

// indicatorFields are the fields every document of an indicator carries,
// nested.
func (m *Mapper) indicatorFields(obj stix.Object) map[string]any {
	f := tree(make(map[string]any, 8))
	f.set("ecs.version", ECSVersion)
	f.set("event.kind", "enrichment")
	f.set("event.category", []any{"threat"})
	f.set("event.type", []any{"indicator"})
	f.set("event.module", Module)
	f.set("event.dataset", Dataset)
	f.set("threat.feed.name", m.cfg.FeedName)
	f.set("threat.indicator.confidence", Confidence(obj.Fields["confidence"]))
	m.setIDs(f, obj)
	for _, p := range indicatorStrings {
		if v := obj.String(p.from); v != "" {
			f.set(p.field, v)
		}
	}
	for _, from := range []string{"valid_from", "created"} {
		if setDate(f, "threat.indicator.first_seen", obj.String(from)) {
			break
		}
	}
	for _, p := range indicatorDates {
		setDate(f, p.field, obj.String(p.from))
	}
	if revoked, ok := obj.Fields["revoked"].(bool); ok {
		f.set("opencti.indicator.revoked", revoked)
	}
	if labels := stringList(obj.Fields["labels"]); len(labels) > 0 {
		f.set("tags", labels)
		f.set("opencti.indicator.labels", labels)
	}
	if types := stringList(obj.Fields["indicator_types"]); len(types) > 0 {
		f.set("opencti.indicator.indicator_types", types)
	}
	if phases, ok := killChainPhases(obj.Fields["kill_chain_phases"]); ok {
		f.set("opencti.indicator.kill_chain_phases", phases)
	}
	if by := obj.String("created_by_ref"); by != "" {
		f.set("opencti.indicator.created_by", by)
		if name := m.identityName(by); name != "" {
			f.set("threat.indicator.provider", name)
		}
	}
	if tlp, ok := tlpOf(obj); ok {
		f.set("threat.indicator.marking.tlp", tlp.name)
		f.set("threat.indicator.marking.tlp_version", tlp.version)
	}
	setOpenCTIFacts(f, obj)
	return f
}

// indicatorStrings are the string properties copied as they are (when not
// empty).
var indicatorStrings = []prop{
	{"threat.indicator.description", "description"},
	{"opencti.indicator.name", "name"},
	{"opencti.indicator.pattern", "pattern"},
	{"opencti.indicator.pattern_type", "pattern_type"},
	{"opencti.indicator.pattern_version", "pattern_version"},
}

// indicatorDates are the dates copied in ECS's millisecond form (when they
// parse). threat.indicator.first_seen is valid_from, else created.
var indicatorDates = []prop{
	{"threat.indicator.last_seen", "modified"},
	{"threat.indicator.modified_at", "modified"},
	{"opencti.indicator.valid_from", "valid_from"},
	{"opencti.indicator.valid_until", "valid_until"},
	{"opencti.indicator.created", "created"},
	{"opencti.indicator.modified", "modified"},
}

// setIDs writes the indicator's ids and OpenCTI's links to it.
func (m *Mapper) setIDs(f tree, obj stix.Object) {
	f.set("opencti.indicator.stix_id", obj.ID)
	ids := []any{}
	if obj.InternalID != "" {
		ids = append(ids, obj.InternalID)
		f.set("opencti.indicator.id", obj.InternalID)
		if m.baseURL != "" {
			f.set("threat.indicator.reference", m.baseURL+"/dashboard/observations/indicators/"+obj.InternalID)
		}
	}
	ids = append(ids, obj.ID)
	f.set("threat.indicator.id", ids)
	if m.baseURL != "" {
		f.set("threat.feed.reference", m.baseURL)
	}
}

// setDate writes an RFC 3339 date v in ECS's millisecond form; false when
// v is empty or not a date.
func setDate(f tree, field, v string) bool {
	if v == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return false
	}
	f.set(field, t.UTC().Format("2006-01-02T15:04:05.000Z"))
	return true
}

// killChainPhases copies the name and phase of each kill chain phase; ok
// is false when there is none.
func killChainPhases(v any) (phases []any, ok bool) {
	kc, _ := v.([]any)
	if len(kc) == 0 {
		return nil, false
	}
	phases = []any{}
	for _, p := range kc {
		pm, ok := p.(map[string]any)
		if !ok {
			continue
		}
		phase := map[string]any{}
		for _, k := range []string{"kill_chain_name", "phase_name"} {
			if s, ok := pm[k].(string); ok {
				phase[k] = s
			}
		}
		phases = append(phases, phase)
	}
	return phases, true
}

// setOpenCTIFacts writes the score, detection flag and main observable
// type OpenCTI keeps in its extension, or in the older x_opencti_*
// properties.
func setOpenCTIFacts(f tree, obj stix.Object) {
	ext, _ := obj.Fields["extensions"].(map[string]any)
	octi, _ := ext[stix.OpenCTIExtension].(map[string]any)
	if score, ok := openCTIFact[float64](octi, obj.Fields, "score", "x_opencti_score"); ok {
		f.set("opencti.indicator.score", int64(score))
	}
	if det, ok := openCTIFact[bool](octi, obj.Fields, "detection", "x_opencti_detection"); ok {
		f.set("opencti.indicator.detection", det)
	}
	if mot, ok := openCTIFact[string](octi, obj.Fields, "main_observable_type", "x_opencti_main_observable_type"); ok {
		f.set("opencti.indicator.main_observable_type", mot)
	}
}

// openCTIFact is key of OpenCTI's extension if it is a T, else the older
// property legacy if it is one; an empty string counts as absent.
func openCTIFact[T any](octi, props map[string]any, key, legacy string) (T, bool) {
	if v, ok := usable[T](octi[key]); ok {
		return v, true
	}
	return usable[T](props[legacy])
}

func usable[T any](v any) (T, bool) {
	if s, isString := v.(string); isString && s == "" {
		var none T
		return none, false
	}
	t, ok := v.(T)
	return t, ok
}

// tlpOf returns the most restrictive TLP marking of the object.
func tlpOf(obj stix.Object) (tlp, bool) {
	var best tlp
	found := false
	for _, ref := range stringList(obj.Fields["object_marking_refs"]) {
		if t, ok := tlpMarkings[ref.(string)]; ok && t.rank > best.rank {
			best, found = t, true
		}
	}
	return best, found
}

// stringList returns the string members of a JSON array.
func stringList(v any) []any {
	arr, _ := v.([]any)
	out := make([]any, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok && strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
