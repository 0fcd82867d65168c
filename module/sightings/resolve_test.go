package sightings

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openctibeat/openctibeat/module/sightings/alerts"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// lookups is an OpenCTI knowing a few indicators, counting lookups.
type lookups struct {
	OpenCTI
	byID     map[string]api.Indicator
	all      []api.Indicator
	calls    []string
	failWith error
}

func (l *lookups) Indicator(_ context.Context, id string) (*api.Indicator, error) {
	l.calls = append(l.calls, "id:"+id)
	if l.failWith != nil {
		return nil, l.failWith
	}
	if ind, ok := l.byID[id]; ok {
		return &ind, nil
	}
	return nil, nil
}

func (l *lookups) SearchIndicators(_ context.Context, search string, _ int) ([]api.Indicator, error) {
	l.calls = append(l.calls, "search:"+search)
	var out []api.Indicator
	for _, ind := range l.all {
		if strings.Contains(ind.Pattern, search) {
			out = append(out, ind)
		}
	}
	return out, nil
}

const (
	idA = "11111111-1111-4111-8111-111111111111"
	idB = "22222222-2222-4222-8222-222222222222"
	idC = "33333333-3333-4333-8333-333333333333"
)

func newLookups() *lookups {
	a := api.Indicator{ID: idA, StandardID: "indicator--aaaaaaaa-1111-5111-8111-111111111111", Pattern: "[ipv4-addr:value = '10.0.0.1']"}
	b := api.Indicator{ID: idB, StandardID: "indicator--bbbbbbbb-2222-5222-8222-222222222222", Pattern: "[domain-name:value = 'evil.example']"}
	c := api.Indicator{ID: idC, StandardID: "indicator--cccccccc-3333-5333-8333-333333333333", Pattern: "[url:value = 'http://evil.example/x']"}
	l := &lookups{byID: map[string]api.Indicator{}, all: []api.Indicator{a, b, c}}
	for _, ind := range l.all {
		l.byID[ind.ID], l.byID[ind.StandardID] = ind, ind
	}
	return l
}

func TestResolveOrder(t *testing.T) {
	docs := newMemSource()
	docs.addDoc("ti", "doc-b", map[string]any{"threat": map[string]any{"indicator": map[string]any{"id": []any{idB, "indicator--bbbbbbbb-2222-5222-8222-222222222222"}}}})
	docs.addDoc("ti", "doc-foreign", map[string]any{"threat": map[string]any{"indicator": map[string]any{"id": "abuse-ch-123"}}})
	tests := []struct {
		name      string
		e         alerts.Enrichment
		want      string
		wantCalls []string
	}{
		{"ids of the enrichment win", alerts.Enrichment{IndicatorIDs: []string{idA}, MatchedIndex: "ti", MatchedID: "doc-b", MatchedAtomic: "evil.example"}, idA, []string{"id:" + idA}},
		{"a STIX id resolves to the internal id", alerts.Enrichment{IndicatorIDs: []string{"indicator--aaaaaaaa-1111-5111-8111-111111111111"}}, idA, []string{"id:indicator--aaaaaaaa-1111-5111-8111-111111111111"}},
		{"ids that are not OpenCTI's are not looked up", alerts.Enrichment{IndicatorIDs: []string{"abuse-ch-1"}, MatchedIndex: "ti", MatchedID: "doc-b"}, idB, []string{"id:" + idB}},
		{"unknown ids: then the matched document", alerts.Enrichment{IndicatorIDs: []string{idC[:35] + "9"}, MatchedIndex: "ti", MatchedID: "doc-b"}, idB, []string{"id:" + idC[:35] + "9", "id:" + idB}},
		{"no document: then the matched value", alerts.Enrichment{MatchedIndex: "ti", MatchedID: "gone", MatchedAtomic: "evil.example"}, idB, []string{"search:evil.example"}},
		{"a document without OpenCTI ids: the value", alerts.Enrichment{MatchedIndex: "ti", MatchedID: "doc-foreign", MatchedAtomic: "10.0.0.1"}, idA, []string{"search:10.0.0.1"}},
		{"the value must be a whole literal", alerts.Enrichment{MatchedAtomic: "evil"}, "", []string{"search:evil"}},
		{"nothing matches", alerts.Enrichment{MatchedAtomic: "192.0.2.1"}, "", []string{"search:192.0.2.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLookups()
			r := newResolver(l, docs, nil, nil)
			got, err := r.enrichment(context.Background(), alerts.Alert{}, tt.e)
			if err != nil || got != tt.want {
				t.Fatalf("enrichment = %q, %v; want %q", got, err, tt.want)
			}
			if d := cmp.Diff(tt.wantCalls, l.calls); d != "" {
				t.Fatalf("lookups (-want +got):\n%s", d)
			}
		})
	}
}

func TestResolveCaches(t *testing.T) {
	l := newLookups()
	r := newResolver(l, newMemSource(), nil, nil)
	a := alerts.Alert{Enrichments: []alerts.Enrichment{
		{IndicatorIDs: []string{idA}}, {IndicatorIDs: []string{idA}}, {MatchedAtomic: "evil.example"}, {MatchedAtomic: "203.0.113.9"},
	}}
	for i := 0; i < 3; i++ {
		got, err := r.alert(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{idA, idB}, got); d != "" {
			t.Fatal(d)
		}
	}
	// One lookup each; the miss is remembered for the poll only.
	if d := cmp.Diff([]string{"id:" + idA, "search:evil.example", "search:203.0.113.9"}, l.calls); d != "" {
		t.Fatal(d)
	}
	r.startPoll()
	if _, err := r.alert(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if n := len(l.calls); n != 4 {
		t.Fatalf("after a new poll: %d lookups, want 4 (the miss again): %v", n, l.calls)
	}
}

func TestResolveErrors(t *testing.T) {
	l := newLookups()
	l.failWith = &api.TransportError{Operation: "OpenctibeatIndicator", StatusCode: 502}
	r := newResolver(l, newMemSource(), nil, nil)
	if _, err := r.enrichment(context.Background(), alerts.Alert{}, alerts.Enrichment{IndicatorIDs: []string{idA}}); !api.IsTransient(err) {
		t.Fatalf("transport error not returned: %v", err)
	}
	l.failWith = &api.GraphQLError{Operation: "OpenctibeatIndicator", Errors: []api.ErrorEntry{{Message: "x", Code: "FUNCTIONAL_ERROR"}}}
	got, err := r.enrichment(context.Background(), alerts.Alert{}, alerts.Enrichment{IndicatorIDs: []string{idA}})
	if err != nil || got != "" {
		t.Fatalf("a rejected lookup is a miss: %q, %v", got, err)
	}
	l.failWith = &api.GraphQLError{Operation: "OpenctibeatIndicator", Errors: []api.ErrorEntry{{Message: "x", Code: "AUTH_REQUIRED"}}}
	r.startPoll()
	var ge *api.GraphQLError
	if _, err := r.enrichment(context.Background(), alerts.Alert{}, alerts.Enrichment{IndicatorIDs: []string{idA}}); !errors.As(err, &ge) {
		t.Fatalf("an authentication error must stop the poll: %v", err)
	}
}
