package api

import (
	"context"
	"fmt"
)

// Indicator is the part of an OpenCTI indicator the beat needs.
type Indicator struct {
	// ID is OpenCTI's internal id.
	ID string `json:"id"`
	// StandardID is the STIX id ("indicator--<uuid>").
	StandardID string `json:"standard_id"`
	Name       string `json:"name"`
	Pattern    string `json:"pattern"`
	Revoked    bool   `json:"revoked"`
}

// Indicator loads an indicator by internal id, standard id or any of its
// STIX ids. It returns nil and no error when OpenCTI has no such indicator
// (or the token's user may not see it).
func (c *Client) Indicator(ctx context.Context, id string) (*Indicator, error) {
	var out struct {
		Indicator *Indicator `json:"indicator"`
	}
	if err := c.exec(ctx, opIndicator, map[string]any{"id": id}, &out, true); err != nil {
		return nil, err
	}
	return out.Indicator, nil
}

// SearchIndicators runs OpenCTI's full-text search over indicators (name,
// pattern, description, ...) and returns at most first of them, best first.
// The search is fuzzy: callers check the pattern themselves.
func (c *Client) SearchIndicators(ctx context.Context, search string, first int) ([]Indicator, error) {
	if first <= 0 {
		return nil, fmt.Errorf("opencti graphql %s: first must be positive, got %d", opIndicatorSearch.name, first)
	}
	var out struct {
		Indicators *struct {
			Edges []*struct {
				Node *Indicator `json:"node"`
			} `json:"edges"`
		} `json:"indicators"`
	}
	if err := c.exec(ctx, opIndicatorSearch, map[string]any{"search": search, "first": first}, &out, true); err != nil {
		return nil, err
	}
	if out.Indicators == nil {
		return nil, nil
	}
	res := make([]Indicator, 0, len(out.Indicators.Edges))
	for _, e := range out.Indicators.Edges {
		if e != nil && e.Node != nil {
			res = append(res, *e.Node)
		}
	}
	return res, nil
}
