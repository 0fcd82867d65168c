package ecsmode

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/internal/deepcopy"
	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/opencti/event"
	"github.com/openctibeat/openctibeat/stix"
	"github.com/openctibeat/openctibeat/stix/pattern"
)

// Event identity of the documents.
const (
	Module  = "ti_openctibeat"
	Dataset = Module + ".indicator"
)

// ErrInvalidPattern wraps pattern errors: the indicator is skipped.
var ErrInvalidPattern = errors.New("invalid STIX pattern")

// Mapper maps indicator events to ECS documents.
type Mapper struct {
	cfg     Config
	baseURL string
	now     func() time.Time
	log     *logp.Logger
	metrics *Metrics

	mu         sync.Mutex
	identities map[string]string // STIX id -> name, for threat.indicator.provider
}

var _ mapping.Mapper = (*Mapper)(nil)

// maxIdentities bounds the identity names remembered.
const maxIdentities = 100_000

// Option sets an optional dependency of a Mapper.
type Option func(*Mapper)

// WithLogger logs the indicators whose observables are cut at
// pattern.MaxObservables (default: no log).
func WithLogger(log *logp.Logger) Option { return func(m *Mapper) { m.log = log } }

// WithMetrics counts them (default: no count).
func WithMetrics(metrics *Metrics) Option { return func(m *Mapper) { m.metrics = metrics } }

// New returns an ecs mode mapper. openctiURL is OpenCTI's base URL (for
// threat.indicator.reference and threat.feed.reference; credentials in it
// never reach a document); now is the clock.
func New(cfg Config, openctiURL string, now func() time.Time, opts ...Option) *Mapper {
	if now == nil {
		now = time.Now
	}
	m := &Mapper{cfg: cfg, baseURL: linkBase(openctiURL), now: now, log: logp.NewNopLogger(), identities: map[string]string{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// linkBase is the base of the documents' links: the URL without userinfo
// (https://user:pass@host) and without a trailing slash; empty (no links)
// when it does not parse.
func linkBase(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.User != nil {
		u.User = nil
		raw = u.String()
	}
	return strings.TrimRight(raw, "/")
}

// Map returns the writes that make the index reflect ev.
func (m *Mapper) Map(ev event.Event) ([]mapping.Doc, error) {
	obj := ev.Object
	if obj.Type == "identity" {
		m.learnIdentity(ev)
		return nil, nil
	}
	var docs []mapping.Doc
	if ev.Kind == event.Merge {
		for _, src := range ev.Sources {
			if src.Type == "indicator" && src.DocID() != obj.DocID() {
				docs = append(docs, m.deletes(src, src.String("pattern"), src.String("pattern_type"))...)
			}
		}
	}
	if obj.Type != "indicator" {
		return docs, nil
	}
	patternType := obj.String("pattern_type")
	current := obj.String("pattern")
	switch {
	case ev.Kind == event.Delete:
		return append(docs, m.deletes(obj, current, patternType)...), nil
	case !m.live(obj):
		// Revoked or expired: none of its documents may remain.
		cur := m.deletes(obj, current, patternType)
		keep := map[string]bool{}
		for _, d := range cur {
			keep[d.ID] = true
		}
		docs = append(docs, cur...)
		return append(docs, m.previousDeletes(ev, obj, keep)...), nil
	}
	puts, err := m.documents(ev.ID, obj)
	if err != nil {
		return docs, err
	}
	keep := map[string]bool{}
	for _, d := range puts {
		keep[d.ID] = true
	}
	docs = append(docs, puts...)
	return append(docs, m.previousDeletes(ev, obj, keep)...), nil
}

// validUntil is the indicator's valid_until, or zero.
func validUntil(obj stix.Object) time.Time {
	t, err := time.Parse(time.RFC3339Nano, obj.String("valid_until"))
	if err != nil {
		return time.Time{}
	}
	return t
}

// live tells whether an indicator's documents should exist now.
func (m *Mapper) live(obj stix.Object) bool {
	if revoked, _ := obj.Fields["revoked"].(bool); revoked {
		return false
	}
	if t := validUntil(obj); !t.IsZero() && !t.After(m.now()) {
		return false
	}
	return true
}

// previousDeletes deletes the documents of the pattern an update replaced,
// except those in keep.
func (m *Mapper) previousDeletes(ev event.Event, obj stix.Object, keep map[string]bool) []mapping.Doc {
	if ev.Kind != event.Update {
		return nil
	}
	prevPattern, changed := ev.Previous["pattern"].(string)
	prevType, typeChanged := ev.Previous["pattern_type"].(string)
	if !changed && !typeChanged {
		return nil
	}
	if !changed {
		prevPattern = obj.String("pattern")
	}
	if !typeChanged {
		prevType = obj.String("pattern_type")
	}
	var out []mapping.Doc
	for _, d := range m.deletes(obj, prevPattern, prevType) {
		if !keep[d.ID] {
			out = append(out, d)
		}
	}
	return out
}

// deletes removes every document an indicator with this pattern has.
func (m *Mapper) deletes(obj stix.Object, pat, patternType string) []mapping.Doc {
	ids := docIDs(obj, pat, patternType)
	docs := make([]mapping.Doc, len(ids))
	for i, id := range ids {
		docs[i] = mapping.Doc{Op: mapping.Delete, Index: m.cfg.Index, ID: id,
			Fields: map[string]any{"opencti": map[string]any{"indicator": map[string]any{"id": obj.InternalID, "stix_id": obj.ID}}}}
	}
	return docs
}

// docIDs lists the document ids of an indicator with this pattern. An
// unparsable pattern has none.
func docIDs(obj stix.Object, pat, patternType string) []string {
	if patternType != "" && patternType != "stix" {
		return []string{obj.DocID() + ":pattern"}
	}
	p, err := pattern.Parse(pat)
	if err != nil {
		return nil
	}
	obs, _ := p.Observables()
	if len(obs) == 0 {
		return []string{obj.DocID() + ":pattern"}
	}
	ids := make([]string, len(obs))
	for i, o := range obs {
		ids[i] = observableID(obj, o)
	}
	return ids
}

// observableID is "<indicator doc id>:<first 16 hex of sha256 of the
// observable's canonical form>".
func observableID(obj stix.Object, o pattern.Observable) string {
	parts := make([]string, len(o.Values))
	for i, a := range o.Values {
		parts[i] = a.Path.Property() + "=" + a.Value.String()
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(o.Type + "\x00" + strings.Join(parts, "\x00")))
	return obj.DocID() + ":" + hex.EncodeToString(sum[:8])
}

// documents builds the documents of a live indicator (eventID: the stream
// event that carries it, for the log).
func (m *Mapper) documents(eventID string, obj stix.Object) ([]mapping.Doc, error) {
	now := m.now().UTC()
	base := m.indicatorFields(obj)
	patternType := obj.String("pattern_type")
	if patternType != "" && patternType != "stix" {
		return []mapping.Doc{m.doc(obj, obj.DocID()+":pattern", now, base, nil, "", obj.String("name"))}, nil
	}
	p, err := pattern.Parse(obj.String("pattern"))
	if err != nil {
		return nil, fmt.Errorf("%w: indicator %s: %v", ErrInvalidPattern, obj.ID, err)
	}
	obs, err := p.Observables()
	if err != nil && !errors.Is(err, pattern.ErrTooMany) {
		return nil, fmt.Errorf("%w: indicator %s: %v", ErrInvalidPattern, obj.ID, err)
	}
	if err != nil {
		m.truncated(eventID, obj, p, len(obs))
	}
	if len(obs) == 0 {
		// No equality on an observable value (LIKE, MATCHES, ...): the
		// indicator is indexed with its pattern, without atomic value.
		return []mapping.Doc{m.doc(obj, obj.DocID()+":pattern", now, base, nil, "", obj.String("name"))}, nil
	}
	docs := make([]mapping.Doc, 0, len(obs))
	for i, o := range obs {
		typ, display, f := observableFields(o)
		f["opencti.observable.type"] = o.Type
		if display != "" {
			f["opencti.observable.value"] = display
		}
		if vals := assertedValues(o); len(vals) > 0 {
			f["opencti.observable.values"] = vals
		}
		// No two documents share an object or array: libbeat's processors
		// may change a document in place once event normalisation, which
		// copied each, is off.
		doc := base
		if i < len(obs)-1 {
			doc = deepcopy.Object(base)
		}
		docs = append(docs, m.doc(obj, observableID(obj, o), now, doc, f, typ, display))
	}
	return docs, nil
}

// countLimit bounds the counting of a truncated indicator's observables
// (for the log): a pattern can expand exponentially.
const countLimit = 100 * pattern.MaxObservables

// truncated counts and logs an indicator whose observables were cut at
// pattern.MaxObservables (or at the expansion's work budget): only the
// first indexed are indexed, the others are not matched by any rule.
func (m *Mapper) truncated(eventID string, obj stix.Object, p *pattern.Pattern, indexed int) {
	m.metrics.truncated()
	n, exact := p.CountObservables(countLimit)
	m.log.Warnw("indicator pattern expands past the observables limit: only the first observables are indexed, the others match no rule",
		"event_id", eventID, "stix_id", obj.ID, "indicator_id", obj.InternalID,
		"observables", max(n, indexed), "observables_exact", exact, "indexed", indexed, "limit", pattern.MaxObservables)
}

func assertedValues(o pattern.Observable) map[string]any {
	out := map[string]any{}
	for _, a := range o.Values {
		out[a.Path.Property()] = a.Value.String()
	}
	return out
}

// doc completes a document of the indicator's fields (nested, this
// document's own) with the observable's.
func (m *Mapper) doc(obj stix.Object, id string, now time.Time, base map[string]any, obs fields, typ, display string) mapping.Doc {
	var extra fields
	if typ != "" || display != "" {
		extra = make(fields, 2)
		if typ != "" {
			extra["threat.indicator.type"] = typ
		}
		if display != "" {
			extra["threat.indicator.name"] = display
		}
	}
	return mapping.Doc{Op: mapping.Index, Index: m.cfg.Index, ID: id, Timestamp: now, Fields: merge(base, obs, extra), Expires: validUntil(obj)}
}

func (m *Mapper) learnIdentity(ev event.Event) {
	name := ev.Object.String("name")
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Kind == event.Delete || name == "" {
		delete(m.identities, ev.Object.ID)
		return
	}
	if len(m.identities) >= maxIdentities {
		for k := range m.identities { // drop an arbitrary one
			delete(m.identities, k)
			break
		}
	}
	m.identities[ev.Object.ID] = name
}

func (m *Mapper) identityName(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.identities[id]
}
