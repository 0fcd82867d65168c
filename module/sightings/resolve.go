package sightings

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"

	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/module/sightings/alerts"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// maxCache bounds each positive cache; it is emptied when full.
const maxCache = 100000

// searchFirst is how many indicators a value search returns.
const searchFirst = 50

var openCTIIDRe = regexp.MustCompile(`^(indicator--)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// docSource fetches an indicator document by index and id.
type docSource interface {
	Document(ctx context.Context, index, id string) (map[string]any, bool, error)
}

// resolver finds the OpenCTI indicator (internal id) of an enrichment, in
// order: the OpenCTI ids carried in the enrichment's indicator; the matched
// indicator document (matched.index/matched.id) and its ids; an OpenCTI
// search by the matched value. Lookups are cached: found indicators for the
// module's life, misses for one poll (an indicator may appear later).
//
// A matched document whose index or id Elasticsearch would refuse is not
// requested: the alert is logged (the first maxSkipLogs per reason and
// poll), counted under lookup_skipped.<reason>_total, and the next way
// (the matched value) is tried.
type resolver struct {
	octi    OpenCTI
	docs    docSource
	log     *logp.Logger
	metrics *metrics
	// invalid counts this poll's invalid matched documents per reason.
	invalid map[string]int

	byID    map[string]string   // any id -> internal id ("" = not an indicator)
	byDoc   map[string][]string // index/id -> ids in the document (nil = none)
	byValue map[string]string   // matched value -> internal id ("" = none)
	missID  map[string]bool
	missDoc map[string]bool
	missVal map[string]bool
}

// Reasons a matched document is not looked up (lookup_skipped.<reason>_total).
const (
	reasonInvalidMatchedIndex = "invalid_matched_index"
	reasonInvalidMatchedID    = "invalid_matched_id"
)

func newResolver(octi OpenCTI, docs docSource, log *logp.Logger, m *metrics) *resolver {
	if log == nil {
		log = logp.NewNopLogger()
	}
	r := &resolver{octi: octi, docs: docs, log: log, metrics: m}
	r.byID, r.byDoc, r.byValue = map[string]string{}, map[string][]string{}, map[string]string{}
	r.startPoll()
	return r
}

// startPoll forgets the misses of the previous poll.
func (r *resolver) startPoll() {
	r.missID, r.missDoc, r.missVal = map[string]bool{}, map[string]bool{}, map[string]bool{}
	r.invalid = map[string]int{}
	for _, m := range []map[string]string{r.byID, r.byValue} {
		if len(m) > maxCache {
			clear(m)
		}
	}
	if len(r.byDoc) > maxCache {
		clear(r.byDoc)
	}
}

// alert returns the distinct indicators of an alert's enrichments, sorted.
// An error is a lookup that failed (not a miss): the poll must stop.
func (r *resolver) alert(ctx context.Context, a alerts.Alert) ([]string, error) {
	set := map[string]bool{}
	for _, e := range a.Enrichments {
		id, err := r.enrichment(ctx, a, e)
		if err != nil {
			return nil, err
		}
		if id != "" {
			set[id] = true
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

func (r *resolver) enrichment(ctx context.Context, a alerts.Alert, e alerts.Enrichment) (string, error) {
	if id, err := r.firstIndicator(ctx, e.IndicatorIDs); id != "" || err != nil {
		return id, err
	}
	if e.MatchedIndex != "" && e.MatchedID != "" && r.validDocument(a, e) {
		ids, err := r.document(ctx, e.MatchedIndex, e.MatchedID)
		if err != nil {
			return "", err
		}
		if id, err := r.firstIndicator(ctx, ids); id != "" || err != nil {
			return id, err
		}
	}
	if e.MatchedAtomic != "" {
		return r.value(ctx, e.MatchedAtomic)
	}
	return "", nil
}

// firstIndicator returns the internal id of the first of ids that is an
// OpenCTI indicator.
func (r *resolver) firstIndicator(ctx context.Context, ids []string) (string, error) {
	for _, id := range ids {
		if !openCTIIDRe.MatchString(id) {
			continue
		}
		if v, ok := r.byID[id]; ok {
			if v != "" {
				return v, nil
			}
			continue
		}
		if r.missID[id] {
			continue
		}
		ind, err := r.octi.Indicator(ctx, id)
		if err != nil {
			if rejected(err) {
				r.missID[id] = true
				continue
			}
			return "", err
		}
		if ind == nil || ind.ID == "" {
			r.missID[id] = true
			continue
		}
		r.byID[id], r.byID[ind.ID] = ind.ID, ind.ID
		if ind.StandardID != "" {
			r.byID[ind.StandardID] = ind.ID
		}
		return ind.ID, nil
	}
	return "", nil
}

// validDocument reports whether the enrichment's matched index and id are
// names Elasticsearch accepts; otherwise it logs and counts the alert.
func (r *resolver) validDocument(a alerts.Alert, e alerts.Enrichment) bool {
	reason, leaf, value := reasonInvalidMatchedIndex, "index", e.MatchedIndex
	err := alerts.ValidateIndexName(e.MatchedIndex)
	if err == nil {
		reason, leaf, value = reasonInvalidMatchedID, "id", e.MatchedID
		err = alerts.ValidateDocID(e.MatchedID)
	}
	if err == nil {
		return true
	}
	r.invalid[reason]++
	r.metrics.lookupSkip(reason)
	if r.invalid[reason] <= maxSkipLogs {
		if len(value) > 80 {
			value = value[:80] + "..."
		}
		r.log.Warnw("alert's matched document is not looked up: Elasticsearch would refuse the name; trying the matched value",
			"alert_id", a.ID, "index", a.Index, "field", e.MatchedPath(leaf), "value", value, "reason", reason, "error", err)
	}
	return false
}

func (r *resolver) document(ctx context.Context, index, id string) ([]string, error) {
	key := index + "\x00" + id
	if ids, ok := r.byDoc[key]; ok {
		return ids, nil
	}
	if r.missDoc[key] || r.docs == nil {
		return nil, nil
	}
	doc, ok, err := r.docs.Document(ctx, index, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		r.missDoc[key] = true
		return nil, nil
	}
	ids := alerts.IndicatorDocIDs(doc)
	r.byDoc[key] = ids
	return ids, nil
}

// value searches OpenCTI for an indicator whose pattern holds value as a
// STIX string literal ('value'); the first such indicator by id wins.
func (r *resolver) value(ctx context.Context, value string) (string, error) {
	if v, ok := r.byValue[value]; ok {
		return v, nil
	}
	if r.missVal[value] {
		return "", nil
	}
	found, err := r.octi.SearchIndicators(ctx, value, searchFirst)
	if err != nil {
		if rejected(err) {
			r.missVal[value] = true
			return "", nil
		}
		return "", err
	}
	literal := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value) + "'"
	var ids []string
	for _, ind := range found {
		if ind.ID != "" && strings.Contains(ind.Pattern, literal) {
			ids = append(ids, ind.ID)
		}
	}
	if len(ids) == 0 {
		r.missVal[value] = true
		return "", nil
	}
	sort.Strings(ids)
	r.byValue[value] = ids[0]
	return ids[0], nil
}

// rejectionCodes are OpenCTI error codes about the data sent, not about the
// platform or the beat's configuration: the object concerned is skipped.
var rejectionCodes = []string{
	"MISSING_REFERENCE_ERROR", "FUNCTIONAL_ERROR", "VALIDATION_ERROR",
	"ALREADY_DELETED_ERROR", "UNSUPPORTED_ERROR", "BAD_USER_INPUT",
}

// rejected reports whether err is OpenCTI refusing the data: the alerts
// concerned are skipped. Other errors (transport, authentication, locks,
// a document the platform does not understand) stop the poll, to be retried.
func rejected(err error) bool {
	var ge *api.GraphQLError
	if !errors.As(err, &ge) {
		return false
	}
	for _, c := range rejectionCodes {
		if ge.HasCode(c) {
			return true
		}
	}
	return false
}
