package refusal

import (
	"context"
	"fmt"
	"time"

	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
)

// Bulker sends one bulk request (action and document lines, as libbeat's
// eslegclient encodes them) and returns the HTTP status and body of the
// answer.
type Bulker interface {
	Bulk(ctx context.Context, body []any) (int, []byte, error)
}

// CheckID is the _id of the check document. It is written and deleted in
// the same request, so it is never searchable in practice; it has no field
// but @timestamp, so no rule or view ever matches it.
const CheckID = "openctibeat-write-check"

// Result is the outcome of a write check.
type Result struct {
	Outcome Outcome
	// Item is the refused (or failed) write, when Outcome is not Done.
	Item Item
	// Err is the failure of the request itself (Outcome Retry).
	Err error
}

// Check tells whether the engine accepts, on index, the writes the beat
// makes: it indexes a document by id and deletes it, in one bulk request,
// with the output's credentials. Done: both were accepted. Refused: the
// engine refuses such writes for good (its Item says why). Retry: the
// engine could not answer (unreachable, overloaded); nothing is known.
//
// A missing index is created by the check (when the engine creates
// indices on write): use it once the output has connected, which installs
// the index templates first.
func Check(ctx context.Context, b Bulker, index string, now time.Time) Result {
	meta := eslegclient.BulkMeta{Index: index, ID: CheckID}
	return check(ctx, b, []any{
		eslegclient.BulkIndexAction{Index: meta},
		map[string]any{"@timestamp": now.UTC().Format(time.RFC3339Nano)},
		eslegclient.BulkDeleteAction{Delete: meta},
	}, 2)
}

// CheckDelete is Check with only the delete of the check document: it
// never creates anything, so it can run before the output connected. It
// sees blocks, a closed index and a missing delete privilege, not a
// missing index privilege.
func CheckDelete(ctx context.Context, b Bulker, index string) Result {
	return check(ctx, b, []any{eslegclient.BulkDeleteAction{Delete: eslegclient.BulkMeta{Index: index, ID: CheckID}}}, 1)
}

func check(ctx context.Context, b Bulker, body []any, n int) Result {
	status, resp, err := b.Bulk(ctx, body)
	if err != nil {
		// eslegclient returns the status of an answered but failed
		// request with an error (a 401 or 403 for the whole request).
		if status >= 400 && status < 500 && status != 429 {
			return Result{Outcome: Refused, Item: Item{Action: "bulk", Status: status, Reason: err.Error()}}
		}
		return Result{Outcome: Retry, Err: err}
	}
	items, err := ParseBulk(resp)
	if err != nil || len(items) != n {
		return Result{Outcome: Retry, Err: fmt.Errorf("unexpected answer to the write check (status %d): %.300s", status, resp)}
	}
	worst := Result{Outcome: Done}
	for _, it := range items {
		switch it.Outcome() {
		case Refused:
			return Result{Outcome: Refused, Item: it}
		case Retry:
			worst = Result{Outcome: Retry, Item: it, Err: fmt.Errorf("write check: %s", it)}
		}
	}
	return worst
}
