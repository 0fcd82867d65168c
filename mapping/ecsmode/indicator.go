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
	str := func(field, prop string) {
		if v := obj.String(prop); v != "" {
			f.set(field, v)
		}
	}
	date := func(field, prop string) bool {
		if v := obj.String(prop); v != "" {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				f.set(field, t.UTC().Format("2006-01-02T15:04:05.000Z"))
				return true
			}
		}
		return false
	}
	str("threat.indicator.description", "description")
	str("opencti.indicator.name", "name")
	str("opencti.indicator.pattern", "pattern")
	str("opencti.indicator.pattern_type", "pattern_type")
	str("opencti.indicator.pattern_version", "pattern_version")
	if !date("threat.indicator.first_seen", "valid_from") {
		date("threat.indicator.first_seen", "created")
	}
	date("threat.indicator.last_seen", "modified")
	date("threat.indicator.modified_at", "modified")
	date("opencti.indicator.valid_from", "valid_from")
	date("opencti.indicator.valid_until", "valid_until")
	date("opencti.indicator.created", "created")
	date("opencti.indicator.modified", "modified")
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
	if kc, ok := obj.Fields["kill_chain_phases"].([]any); ok && len(kc) > 0 {
		phases := []any{}
		for _, p := range kc {
			if pm, ok := p.(map[string]any); ok {
				phase := map[string]any{}
				for _, k := range []string{"kill_chain_name", "phase_name"} {
					if s, ok := pm[k].(string); ok {
						phase[k] = s
					}
				}
				phases = append(phases, phase)
			}
		}
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
	ext, _ := obj.Fields["extensions"].(map[string]any)
	octi, _ := ext[stix.OpenCTIExtension].(map[string]any)
	if score, ok := octi["score"].(float64); ok {
		f.set("opencti.indicator.score", int64(score))
	} else if score, ok := obj.Fields["x_opencti_score"].(float64); ok {
		f.set("opencti.indicator.score", int64(score))
	}
	if det, ok := octi["detection"].(bool); ok {
		f.set("opencti.indicator.detection", det)
	} else if det, ok := obj.Fields["x_opencti_detection"].(bool); ok {
		f.set("opencti.indicator.detection", det)
	}
	if mot, ok := octi["main_observable_type"].(string); ok && mot != "" {
		f.set("opencti.indicator.main_observable_type", mot)
	} else if mot := obj.String("x_opencti_main_observable_type"); mot != "" {
		f.set("opencti.indicator.main_observable_type", mot)
	}
	return f
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
