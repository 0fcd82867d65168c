package api

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// DateLayout is how dates are sent to OpenCTI: UTC, milliseconds, like the
// platform stores them.
const DateLayout = "2006-01-02T15:04:05.000Z"

// FormatDate formats t for OpenCTI (UTC, millisecond precision).
func FormatDate(t time.Time) string { return t.UTC().Format(DateLayout) }

// Sighting is the part of a STIX sighting relationship the beat needs.
type Sighting struct {
	// ID is OpenCTI's internal id.
	ID         string    `json:"id"`
	StandardID string    `json:"standard_id"`
	StixIDs    []string  `json:"x_opencti_stix_ids"`
	FromID     string    `json:"fromId"`
	ToID       string    `json:"toId"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	Count      int       `json:"attribute_count"`
	Confidence *int      `json:"confidence"`
}

// SightingInput is the input of stixSightingRelationshipAdd.
type SightingInput struct {
	// StixID is the sighting's STIX id; OpenCTI adds it to the sighting's
	// x_opencti_stix_ids, so it can be read back by it.
	StixID string
	// FromID is the sighted object (an indicator), ToID the "where sighted"
	// identity: internal or STIX ids.
	FromID, ToID        string
	FirstSeen, LastSeen time.Time
	// Count is attribute_count.
	Count       int
	Confidence  *int
	Description string
	// Markings are marking definition ids.
	Markings []string
	// CreatedBy is an identity id, optional.
	CreatedBy string
}

func (in SightingInput) variables() map[string]any {
	v := map[string]any{
		"fromId":             in.FromID,
		"toId":               in.ToID,
		"first_seen":         FormatDate(in.FirstSeen),
		"last_seen":          FormatDate(in.LastSeen),
		"attribute_count":    in.Count,
		"x_opencti_negative": false,
		"update":             true,
	}
	if in.StixID != "" {
		v["stix_id"] = in.StixID
	}
	if in.Confidence != nil {
		v["confidence"] = *in.Confidence
	}
	if in.Description != "" {
		v["description"] = in.Description
	}
	if len(in.Markings) > 0 {
		v["objectMarking"] = in.Markings
	}
	if in.CreatedBy != "" {
		v["createdBy"] = in.CreatedBy
	}
	return v
}

// Sighting loads a sighting by internal id, standard id or any of its STIX
// ids; nil and no error when there is none.
func (c *Client) Sighting(ctx context.Context, id string) (*Sighting, error) {
	var out struct {
		Sighting *Sighting `json:"stixSightingRelationship"`
	}
	if err := c.exec(ctx, opSighting, map[string]any{"id": id}, &out, true); err != nil {
		return nil, err
	}
	return out.Sighting, nil
}

// AddSighting sends stixSightingRelationshipAdd once and returns the sighting
// as OpenCTI stored it (created, or upserted into an existing one). It is not
// retried: see the package documentation.
func (c *Client) AddSighting(ctx context.Context, in SightingInput) (Sighting, error) {
	var out struct {
		Sighting *Sighting `json:"stixSightingRelationshipAdd"`
	}
	if err := c.exec(ctx, opSightingAdd, map[string]any{"input": in.variables()}, &out, false); err != nil {
		return Sighting{}, err
	}
	if out.Sighting == nil {
		return Sighting{}, fmt.Errorf("opencti graphql %s: %w: no sighting returned", opSightingAdd.name, errDecode)
	}
	return *out.Sighting, nil
}

// MarshalJSON gives the input in OpenCTI's wire form (for logs and tests).
func (in SightingInput) MarshalJSON() ([]byte, error) { return json.Marshal(in.variables()) }
