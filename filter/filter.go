package filter

import (
	"strings"

	"github.com/openctibeat/openctibeat/stix"
	"github.com/openctibeat/openctibeat/stix/pattern"
)

// Reasons an indicator is refused; each is a metric name.
const (
	ReasonLabel     = "label"
	ReasonType      = "type"
	ReasonScore     = "score"
	ReasonTLP       = "tlp"
	ReasonDetection = "detection"
)

// tlpMarkings are OpenCTI's fixed TLP marking definition ids.
var tlpMarkings = map[string]int{
	"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": tlpRanks["CLEAR"],
	"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": tlpRanks["GREEN"],
	"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": tlpRanks["AMBER"],
	"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": tlpRanks["AMBER+STRICT"],
	"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": tlpRanks["RED"],
}

// Filter applies a Config to indicators.
type Filter struct {
	labels    map[string]bool // nil: any
	types     map[string]bool // nil: any
	minScore  int
	hasMin    bool
	ceiling   int // 0: none
	detection *bool
}

// New returns the filter of a validated Config.
func New(cfg Config) *Filter {
	f := &Filter{}
	for _, l := range cfg.Labels {
		if l == "*" {
			f.labels = nil
			break
		}
		if f.labels == nil {
			f.labels = map[string]bool{}
		}
		f.labels[strings.ToLower(strings.TrimSpace(l))] = true
	}
	for _, t := range cfg.Types {
		if f.types == nil {
			f.types = map[string]bool{}
		}
		f.types[normType(t)] = true
	}
	if cfg.MinScore != nil {
		f.minScore, f.hasMin = *cfg.MinScore, true
	}
	f.ceiling = tlpRanks[normTLP(cfg.TLPCeiling)]
	if cfg.Detection != nil {
		d := *cfg.Detection
		f.detection = &d
	}
	return f
}

// Active tells whether any filter is set (when not, Allow passes
// everything).
func (f *Filter) Active() bool {
	return f != nil && (f.labels != nil || f.types != nil || f.hasMin || f.ceiling > 0 || f.detection != nil)
}

// Allow tells whether obj is kept; when not, reason names the first filter
// it failed. Objects other than indicators are always kept.
func (f *Filter) Allow(obj stix.Object) (ok bool, reason string) {
	if !f.Active() || obj.Type != "indicator" {
		return true, ""
	}
	octi := openCTIExtension(obj)
	if f.labels != nil && !f.hasLabel(obj) {
		return false, ReasonLabel
	}
	if f.hasMin {
		score, known := number(octi["score"])
		if !known {
			score, known = number(obj.Fields["x_opencti_score"])
		}
		if !known || score < float64(f.minScore) {
			return false, ReasonScore
		}
	}
	if f.ceiling > 0 && tlpRank(obj) > f.ceiling {
		return false, ReasonTLP
	}
	if f.detection != nil {
		det, known := octi["detection"].(bool)
		if !known {
			det, _ = obj.Fields["x_opencti_detection"].(bool)
		}
		if det != *f.detection {
			return false, ReasonDetection
		}
	}
	if f.types != nil && !f.hasType(obj, octi) {
		return false, ReasonType
	}
	return true, ""
}

func (f *Filter) hasLabel(obj stix.Object) bool {
	labels, _ := obj.Fields["labels"].([]any)
	for _, l := range labels {
		if s, ok := l.(string); ok && f.labels[strings.ToLower(strings.TrimSpace(s))] {
			return true
		}
	}
	return false
}

// hasType checks the main observable type first, then the pattern's object
// types (parsing only when needed).
func (f *Filter) hasType(obj stix.Object, octi map[string]any) bool {
	main, _ := octi["main_observable_type"].(string)
	if main == "" {
		main = obj.String("x_opencti_main_observable_type")
	}
	if main != "" && f.types[normType(main)] {
		return true
	}
	if pt := obj.String("pattern_type"); pt != "" && !strings.EqualFold(pt, "stix") {
		return false
	}
	p, err := pattern.Parse(obj.String("pattern"))
	if err != nil {
		return false
	}
	found := false
	walkTypes(p.Root, func(t string) {
		if f.types[normType(t)] {
			found = true
		}
	})
	return found
}

// walkTypes calls fn with the object type of every comparison.
func walkTypes(e pattern.ObservationExpr, fn func(string)) {
	switch x := e.(type) {
	case *pattern.Observation:
		walkComp(x.Expr, fn)
	case *pattern.ObservationOp:
		walkTypes(x.Left, fn)
		walkTypes(x.Right, fn)
	case *pattern.Qualified:
		walkTypes(x.Expr, fn)
	}
}

func walkComp(e pattern.CompExpr, fn func(string)) {
	switch x := e.(type) {
	case *pattern.Comparison:
		fn(x.Path.ObjectType)
	case *pattern.CompOp:
		walkComp(x.Left, fn)
		walkComp(x.Right, fn)
	}
}

// tlpRank is the rank of the most restrictive TLP marking (0: none).
func tlpRank(obj stix.Object) int {
	refs, _ := obj.Fields["object_marking_refs"].([]any)
	best := 0
	for _, r := range refs {
		if s, ok := r.(string); ok && tlpMarkings[s] > best {
			best = tlpMarkings[s]
		}
	}
	return best
}

func openCTIExtension(obj stix.Object) map[string]any {
	ext, _ := obj.Fields["extensions"].(map[string]any)
	octi, _ := ext[stix.OpenCTIExtension].(map[string]any)
	return octi
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
