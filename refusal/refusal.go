package refusal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Item is the engine's answer for one action of a bulk request.
type Item struct {
	// Action is the bulk action answered: index, create, update or delete.
	Action string
	Status int
	// Type and Reason are the engine's error, if any (for example
	// cluster_block_exception, "index [x] blocked by: [FORBIDDEN/8/index
	// write (api)];").
	Type   string
	Reason string
}

// Outcome is what an answer means for the write.
type Outcome uint8

// The outcomes of a write.
const (
	// Done: the engine did what was asked. A delete of a document that does
	// not exist (404, also when its index does not exist) is done: the
	// document is absent, as asked.
	Done Outcome = iota + 1
	// Retry: the engine could not do it now (429, 5xx); the same write
	// may succeed later.
	Retry
	// Refused: the engine refuses the write (any other 4xx): a block, a
	// closed index, a missing privilege, a mapping conflict, ...
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Done:
		return "done"
	case Retry:
		return "retry"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// Outcome classifies the answer. 409 (a version conflict, or a create of
// an existing document) is done, as libbeat counts it.
func (it Item) Outcome() Outcome {
	switch {
	case it.Status >= 200 && it.Status < 300, it.Status == http.StatusConflict:
		return Done
	case it.Status == http.StatusNotFound && it.Action == "delete":
		return Done
	case it.Status == http.StatusTooManyRequests, it.Status >= 500, it.Status == 0:
		return Retry
	}
	return Refused
}

// Missing tells whether the item is a delete of a document that was not
// there.
func (it Item) Missing() bool { return it.Action == "delete" && it.Status == http.StatusNotFound }

// String is the status and, for an error, its type and reason.
func (it Item) String() string {
	if it.Type == "" {
		return fmt.Sprintf("%s: status %d", it.Action, it.Status)
	}
	return fmt.Sprintf("%s: status %d: %s: %s", it.Action, it.Status, it.Type, it.Reason)
}

var errNoItems = errors.New("bulk answer without items")

// ParseBulk reads the items of a bulk answer, in request order. The answer
// may be filtered with filter_path=errors,items.*.error,items.*.status.
func ParseBulk(body []byte) ([]Item, error) {
	var resp struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("read the bulk answer: %w", err)
	}
	if resp.Items == nil {
		return nil, errNoItems
	}
	items := make([]Item, len(resp.Items))
	for i, m := range resp.Items {
		for action, r := range m {
			it := Item{Action: action, Status: r.Status}
			if r.Error != nil {
				it.Type, it.Reason = r.Error.Type, r.Error.Reason
			}
			items[i] = it
		}
	}
	return items, nil
}

// Fix says, for an error type of a refusal on index, what to do; "" when
// there is no general advice (the engine's reason says it all).
func Fix(errType, index string) string {
	switch errType {
	case "cluster_block_exception":
		return fmt.Sprintf("a block forbids writes to %s (index.blocks.write, index.blocks.read_only or cluster.blocks.read_only): lift it, e.g. PUT /%s/_settings {\"index.blocks.write\": false}", index, index)
	case "index_closed_exception":
		return fmt.Sprintf("the index %s is closed: open it with POST /%s/_open", index, index)
	case "security_exception":
		return fmt.Sprintf("the output's credentials may not write to %s: grant the index, delete and create_index privileges on it (create_doc is not enough: the beat replaces and deletes documents by id)", index)
	case "index_not_found_exception":
		return fmt.Sprintf("%s does not exist and the engine does not create it: run `openctibeat setup --index-management` and create it, or allow action.auto_create_index for it", index)
	case "mapper_parsing_exception", "document_parsing_exception", "illegal_argument_exception", "strict_dynamic_mapping_exception":
		return fmt.Sprintf("the document does not fit the mapping of %s (a field's type differs from an earlier document's, or the total fields limit is reached): fix the mapping or the template, then re-send (README, Refused writes)", index)
	}
	return ""
}
