package refusal

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseBulk(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []Item
		wantErr bool
	}{
		{
			name: "filtered answer of OpenSearch 2.5 (written, missing, block)",
			body: `{"errors":true,"items":[{"index":{"status":201}},{"delete":{"status":404}},` +
				`{"delete":{"status":403,"error":{"type":"cluster_block_exception","reason":"index [t1] blocked by: [FORBIDDEN/8/index write (api)];"}}}]}`,
			want: []Item{
				{Action: "index", Status: 201},
				{Action: "delete", Status: 404},
				{Action: "delete", Status: 403, Type: "cluster_block_exception", Reason: "index [t1] blocked by: [FORBIDDEN/8/index write (api)];"},
			},
		},
		{
			name: "delete on a missing index",
			body: `{"errors":true,"items":[{"delete":{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index [x]","index":"x"}}}]}`,
			want: []Item{{Action: "delete", Status: 404, Type: "index_not_found_exception", Reason: "no such index [x]"}},
		},
		{name: "no items", body: `{"errors":false}`, wantErr: true},
		{name: "not JSON", body: `<html>`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBulk([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %t", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		name    string
		item    Item
		want    Outcome
		missing bool
	}{
		{"created", Item{Action: "index", Status: 201}, Done, false},
		{"deleted", Item{Action: "delete", Status: 200}, Done, false},
		{"delete of a missing document", Item{Action: "delete", Status: 404}, Done, true},
		{"delete on a missing index", Item{Action: "delete", Status: 404, Type: "index_not_found_exception"}, Done, true},
		{"index on a missing index the engine does not create", Item{Action: "index", Status: 404, Type: "index_not_found_exception"}, Refused, false},
		{"version conflict", Item{Action: "create", Status: 409}, Done, false},
		{"write block", Item{Action: "index", Status: 403, Type: "cluster_block_exception"}, Refused, false},
		{"write block on a delete", Item{Action: "delete", Status: 403, Type: "cluster_block_exception"}, Refused, false},
		{"closed index", Item{Action: "delete", Status: 400, Type: "index_closed_exception"}, Refused, false},
		{"mapping conflict", Item{Action: "index", Status: 400, Type: "mapper_parsing_exception"}, Refused, false},
		{"missing privilege", Item{Action: "index", Status: 403, Type: "security_exception"}, Refused, false},
		{"disk flood stage block", Item{Action: "index", Status: 429, Type: "cluster_block_exception"}, Retry, false},
		{"engine error", Item{Action: "index", Status: 503}, Retry, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.item.Outcome(); got != tt.want {
				t.Errorf("Outcome() = %v, want %v", got, tt.want)
			}
			if got := tt.item.Missing(); got != tt.missing {
				t.Errorf("Missing() = %t, want %t", got, tt.missing)
			}
		})
	}
}

func TestFix(t *testing.T) {
	for _, typ := range []string{"cluster_block_exception", "index_closed_exception", "security_exception", "index_not_found_exception", "mapper_parsing_exception"} {
		if f := Fix(typ, "idx"); !strings.Contains(f, "idx") {
			t.Errorf("Fix(%q) = %q: it should name the index and the fix", typ, f)
		}
	}
	if f := Fix("something_else", "idx"); f != "" {
		t.Errorf("Fix of an unknown type = %q, want none", f)
	}
}

// fakeBulker answers every request with status, body and err, and keeps
// the requests.
type fakeBulker struct {
	status int
	body   string
	err    error
	got    [][]any
}

func (f *fakeBulker) Bulk(_ context.Context, body []any) (int, []byte, error) {
	f.got = append(f.got, body)
	return f.status, []byte(f.body), f.err
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		bulker fakeBulker
		want   Outcome
		typ    string
	}{
		{"accepted", fakeBulker{status: 200, body: `{"errors":false,"items":[{"index":{"status":201}},{"delete":{"status":200}}]}`}, Done, ""},
		{"write block", fakeBulker{status: 200, body: `{"errors":true,"items":[{"index":{"status":403,"error":{"type":"cluster_block_exception","reason":"blocked"}}},{"delete":{"status":403,"error":{"type":"cluster_block_exception","reason":"blocked"}}}]}`}, Refused, "cluster_block_exception"},
		{"no delete privilege", fakeBulker{status: 200, body: `{"errors":true,"items":[{"index":{"status":201}},{"delete":{"status":403,"error":{"type":"security_exception","reason":"unauthorized"}}}]}`}, Refused, "security_exception"},
		{"engine overloaded", fakeBulker{status: 200, body: `{"errors":true,"items":[{"index":{"status":429}},{"delete":{"status":429}}]}`}, Retry, ""},
		{"unreachable", fakeBulker{err: errors.New("connection refused")}, Retry, ""},
		{"request refused", fakeBulker{status: 403, err: errors.New("403 Forbidden")}, Refused, ""},
		{"unexpected answer", fakeBulker{status: 200, body: `{"items":[]}`}, Retry, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.bulker
			got := Check(context.Background(), &b, "idx", now)
			if got.Outcome != tt.want || got.Item.Type != tt.typ {
				t.Errorf("Check = %+v, want %v %q", got, tt.want, tt.typ)
			}
			if len(b.got) != 1 || len(b.got[0]) != 3 {
				t.Fatalf("requests %v, want one: index (action and document) and delete", b.got)
			}
		})
	}
}

// TestCheckDelete: the check before the output connected only deletes
// (nothing is created), and a missing index or document is no refusal.
func TestCheckDelete(t *testing.T) {
	for _, body := range []string{
		`{"errors":false,"items":[{"delete":{"status":404}}]}`,
		`{"errors":true,"items":[{"delete":{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index"}}}]}`,
	} {
		b := &fakeBulker{status: 200, body: body}
		if got := CheckDelete(context.Background(), b, "idx"); got.Outcome != Done {
			t.Errorf("%s: %+v, want done", body, got)
		}
		if len(b.got) != 1 || len(b.got[0]) != 1 {
			t.Fatalf("requests %v, want one delete", b.got)
		}
	}
	b := &fakeBulker{status: 200, body: `{"errors":true,"items":[{"delete":{"status":400,"error":{"type":"index_closed_exception","reason":"closed"}}}]}`}
	if got := CheckDelete(context.Background(), b, "idx"); got.Outcome != Refused || got.Item.Type != "index_closed_exception" {
		t.Errorf("closed index: %+v", got)
	}
}
