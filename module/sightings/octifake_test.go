package sightings

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openctibeat/openctibeat/opencti/api"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// fakeOpenCTI plays OpenCTI's knowledge base behind the project's test
// server (which validates every request against OpenCTI's real schema): the
// indicators the module looks up, the identities it creates, and the
// sightings it upserts, with the platform's upsert rules (OpenCTI 6/7
// createRelationRaw + buildUpdatePatchForUpsert):
//   - an existing sighting is found by id (internal, standard or one of
//     x_opencti_stix_ids, the input's stix_id included), else by same from/to
//     with first_seen and last_seen each within one month of the input's;
//   - upsert: earliest first_seen, latest last_seen; attribute_count becomes
//     stored + sent when a date moved, sent otherwise; nothing changes when
//     the input's confidence is below the stored one.
type fakeOpenCTI struct {
	srv *octiserver.Server

	mu         sync.Mutex
	indicators []fakeIndicator
	identities map[string]*api.Identity // by STIX id
	sightings  []*fakeSighting
	nextID     int
	mutations  []api.SightingInput // every stixSightingRelationshipAdd applied
	// afterAdd runs (without the lock) after each applied mutation, with
	// the number applied so far.
	afterAdd func(n int)
	// reject returns an error message for inputs OpenCTI should refuse.
	reject func(in map[string]any) string
}

type fakeIndicator struct {
	ID, StandardID, Pattern string
}

type fakeSighting struct {
	ID, StandardID      string
	StixIDs             []string
	From, To            string
	FirstSeen, LastSeen time.Time
	Count, Confidence   int
}

func newFakeOpenCTI(t testing.TB) *fakeOpenCTI {
	t.Helper()
	srv, err := octiserver.New(octiserver.Options{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f := &fakeOpenCTI{srv: srv, identities: map[string]*api.Identity{}}
	srv.HandleGraphQLCall("indicator", f.resolveIndicator)
	srv.HandleGraphQLCall("indicators", f.resolveIndicators)
	srv.HandleGraphQLCall("systemAdd", f.resolveIdentityAdd("systemAdd"))
	srv.HandleGraphQLCall("securityPlatformAdd", f.resolveIdentityAdd("securityPlatformAdd"))
	srv.HandleGraphQLCall("stixSightingRelationship", f.resolveSighting)
	srv.HandleGraphQLCall("stixSightingRelationshipAdd", f.resolveSightingAdd)
	return f
}

// addIndicator registers an indicator; its standard id is derived from id.
func (f *fakeOpenCTI) addIndicator(id, pattern string) fakeIndicator {
	f.mu.Lock()
	defer f.mu.Unlock()
	ind := fakeIndicator{ID: id, StandardID: "indicator--" + uuid.NewSHA1(api.OpenCTINamespace, []byte(id)).String(), Pattern: pattern}
	f.indicators = append(f.indicators, ind)
	return ind
}

func (f *fakeOpenCTI) findIndicator(id string) *fakeIndicator {
	for i := range f.indicators {
		if f.indicators[i].ID == id || f.indicators[i].StandardID == id {
			return &f.indicators[i]
		}
	}
	return nil
}

func (f *fakeOpenCTI) newID(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s-%06d", prefix, f.nextID)
}

func indicatorView(ind fakeIndicator) map[string]any {
	return map[string]any{"__typename": "Indicator", "id": ind.ID, "standard_id": ind.StandardID, "name": ind.Pattern, "pattern": ind.Pattern, "revoked": false}
}

func (f *fakeOpenCTI) resolveIndicator(call octiserver.GraphQLCall) (any, []string) {
	fl, _ := call.Field("indicator")
	f.mu.Lock()
	defer f.mu.Unlock()
	if ind := f.findIndicator(fmt.Sprint(fl.Args["id"])); ind != nil {
		return map[string]any{"indicator": indicatorView(*ind)}, nil
	}
	return map[string]any{"indicator": nil}, nil
}

func (f *fakeOpenCTI) resolveIndicators(call octiserver.GraphQLCall) (any, []string) {
	fl, _ := call.Field("indicators")
	search, _ := fl.Args["search"].(string)
	f.mu.Lock()
	defer f.mu.Unlock()
	var edges []any
	for _, ind := range f.indicators {
		if search != "" && strings.Contains(ind.Pattern, search) {
			edges = append(edges, map[string]any{"node": indicatorView(ind)})
		}
	}
	return map[string]any{"indicators": map[string]any{"edges": edges, "pageInfo": map[string]any{}}}, nil
}

func (f *fakeOpenCTI) resolveIdentityAdd(field string) func(octiserver.GraphQLCall) (any, []string) {
	return func(call octiserver.GraphQLCall) (any, []string) {
		fl, _ := call.Field(field)
		in, _ := fl.Args["input"].(map[string]any)
		stixID, _ := in["stix_id"].(string)
		f.mu.Lock()
		defer f.mu.Unlock()
		id, ok := f.identities[stixID]
		if !ok {
			id = &api.Identity{ID: f.newID("identity"), StandardID: stixID, Name: fmt.Sprint(in["name"])}
			f.identities[stixID] = id
		}
		return map[string]any{field: map[string]any{"id": id.ID, "standard_id": id.StandardID, "name": id.Name}}, nil
	}
}

func (s *fakeSighting) hasID(id string) bool {
	if s.ID == id || s.StandardID == id {
		return true
	}
	for _, x := range s.StixIDs {
		if x == id {
			return true
		}
	}
	return false
}

func (s *fakeSighting) view() map[string]any {
	return map[string]any{
		"__typename": "StixSightingRelationship", "id": s.ID, "standard_id": s.StandardID,
		"x_opencti_stix_ids": s.StixIDs, "fromId": s.From, "toId": s.To,
		"first_seen": api.FormatDate(s.FirstSeen), "last_seen": api.FormatDate(s.LastSeen),
		"attribute_count": s.Count, "confidence": s.Confidence,
	}
}

func (f *fakeOpenCTI) resolveSighting(call octiserver.GraphQLCall) (any, []string) {
	fl, _ := call.Field("stixSightingRelationship")
	id := fmt.Sprint(fl.Args["id"])
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sightings {
		if s.hasID(id) {
			return map[string]any{"stixSightingRelationship": s.view()}, nil
		}
	}
	return map[string]any{"stixSightingRelationship": nil}, nil
}

func withinMonth(a, b time.Time) bool {
	return !a.Before(b.AddDate(0, -1, 0)) && !a.After(b.AddDate(0, 1, 0))
}

func (f *fakeOpenCTI) resolveSightingAdd(call octiserver.GraphQLCall) (any, []string) {
	fl, _ := call.Field("stixSightingRelationshipAdd")
	in, _ := fl.Args["input"].(map[string]any)
	if f.reject != nil {
		if msg := f.reject(in); msg != "" {
			return map[string]any{"stixSightingRelationshipAdd": nil}, []string{msg}
		}
	}
	view, n, errMsg := f.apply(in)
	if errMsg != "" {
		return map[string]any{"stixSightingRelationshipAdd": nil}, []string{errMsg}
	}
	if f.afterAdd != nil {
		f.afterAdd(n)
	}
	return map[string]any{"stixSightingRelationshipAdd": view}, nil
}

func (f *fakeOpenCTI) apply(in map[string]any) (map[string]any, int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := f.findIndicator(fmt.Sprint(in["fromId"]))
	if from == nil {
		return nil, 0, "Missing reference: " + fmt.Sprint(in["fromId"])
	}
	to := fmt.Sprint(in["toId"])
	fs, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(in["first_seen"]))
	ls, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(in["last_seen"]))
	if err1 != nil || err2 != nil {
		return nil, 0, "bad dates"
	}
	count := toInt(in["attribute_count"])
	conf := toInt(in["confidence"])
	stixID, _ := in["stix_id"].(string)
	f.mutations = append(f.mutations, api.SightingInput{StixID: stixID, FromID: from.ID, ToID: to, FirstSeen: fs, LastSeen: ls, Count: count, Confidence: &conf})

	var found *fakeSighting
	for _, s := range f.sightings { // by id first
		if stixID != "" && s.hasID(stixID) {
			found = s
			break
		}
	}
	if found == nil { // then by from/to and dates within a month
		for _, s := range f.sightings {
			if s.From == from.ID && s.To == to && withinMonth(s.FirstSeen, fs) && withinMonth(s.LastSeen, ls) {
				found = s
				break
			}
		}
	}
	if found == nil {
		s := &fakeSighting{ID: f.newID("sighting"), From: from.ID, To: to, FirstSeen: fs, LastSeen: ls, Count: count, Confidence: conf}
		s.StandardID = "sighting--" + uuid.NewSHA1(api.OpenCTINamespace, []byte(s.ID)).String()
		if stixID != "" {
			s.StixIDs = []string{stixID}
		}
		f.sightings = append(f.sightings, s)
		return s.view(), len(f.mutations), ""
	}
	if stixID != "" && !found.hasID(stixID) {
		found.StixIDs = append(found.StixIDs, stixID)
	}
	if conf >= found.Confidence {
		moved := false
		if fs.Before(found.FirstSeen) {
			found.FirstSeen, moved = fs, true
		}
		if ls.After(found.LastSeen) {
			found.LastSeen, moved = ls, true
		}
		if moved {
			found.Count += count
		} else {
			found.Count = count
		}
		found.Confidence = conf
	}
	return found.view(), len(f.mutations), ""
}

func toInt(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int:
		return x
	case int64:
		return int(x)
	case interface{ Int64() (int64, error) }:
		n, _ := x.Int64()
		return int(n)
	}
	return 0
}

// sightingsByIndicator returns the stored sightings keyed by indicator id.
func (f *fakeOpenCTI) sightingsByIndicator() map[string][]fakeSighting {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]fakeSighting{}
	for _, s := range f.sightings {
		out[s.From] = append(out[s.From], *s)
	}
	return out
}

func (f *fakeOpenCTI) mutationCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.mutations)
}

// checkRequests fails on any GraphQL request the real schema rejected.
func (f *fakeOpenCTI) checkRequests(t testing.TB) {
	t.Helper()
	for _, r := range f.srv.GraphQLRequests() {
		if len(r.ValidationErrors) > 0 || !r.AuthOK {
			t.Errorf("request %s invalid against OpenCTI's schema (auth %v): %v", r.OperationName, r.AuthOK, r.ValidationErrors)
		}
	}
}

// want is the expected sighting of an indicator.
type want struct {
	count       int
	first, last time.Time
}

// checkSightings compares the stored sightings with the expected totals:
// exactly one sighting per indicator, from that indicator to identity.
func (f *fakeOpenCTI) checkSightings(t testing.TB, identity string, expected map[string]want) {
	t.Helper()
	got := f.sightingsByIndicator()
	var ids []string
	for id := range got {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := expected[id]; !ok {
			t.Errorf("unexpected sighting of indicator %s: %+v", id, got[id])
		}
	}
	for id, w := range expected {
		list := got[id]
		if len(list) != 1 {
			t.Errorf("indicator %s: %d sightings, want 1: %+v", id, len(list), list)
			continue
		}
		s := list[0]
		if s.Count != w.count || !s.FirstSeen.Equal(w.first) || !s.LastSeen.Equal(w.last) || s.To != identity {
			t.Errorf("indicator %s: sighting count %d first %s last %s to %s; want count %d first %s last %s to %s",
				id, s.Count, s.FirstSeen.Format(api.DateLayout), s.LastSeen.Format(api.DateLayout), s.To,
				w.count, w.first.Format(api.DateLayout), w.last.Format(api.DateLayout), identity)
		}
	}
}
