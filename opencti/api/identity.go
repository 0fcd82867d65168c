package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// IdentityType is the kind of identity a sighting is "where sighted".
type IdentityType string

// The identity types the beat can create.
const (
	// IdentitySystem is a STIX identity of class "system" (OpenCTI's System).
	IdentitySystem IdentityType = "System"
	// IdentitySecurityPlatform is OpenCTI's SecurityPlatform (identity class
	// "securityplatform").
	IdentitySecurityPlatform IdentityType = "SecurityPlatform"
)

// identityClass is the STIX identity_class OpenCTI gives each type.
func (t IdentityType) identityClass() (string, error) {
	switch t {
	case IdentitySystem:
		return "system", nil
	case IdentitySecurityPlatform:
		return "securityplatform", nil
	}
	return "", fmt.Errorf("unknown identity type %q (want %q or %q)", string(t), IdentitySystem, IdentitySecurityPlatform)
}

// OpenCTINamespace is the UUIDv5 namespace of OpenCTI's deterministic STIX
// ids (pycti and the platform use it for identities, indicators, ...).
var OpenCTINamespace = uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7")

// IdentityStixID is the STIX id OpenCTI itself derives for an identity of
// type t named name: UUIDv5 in OpenCTINamespace over the canonical JSON
// {"identity_class":"<class>","name":"<lower(trim(name))>"}. Creating the
// identity with this id makes the creation idempotent.
func IdentityStixID(t IdentityType, name string) (string, error) {
	class, err := t.identityClass()
	if err != nil {
		return "", err
	}
	// Canonical JSON (RFC 8785) of two string members: keys in order, no
	// spaces; encoding/json escapes like the canonical form for the
	// characters names hold (HTML escaping disabled below).
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		IdentityClass string `json:"identity_class"`
		Name          string `json:"name"`
	}{class, strings.ToLower(strings.TrimSpace(name))}); err != nil {
		return "", err
	}
	return "identity--" + uuid.NewSHA1(OpenCTINamespace, []byte(strings.TrimSuffix(b.String(), "\n"))).String(), nil
}

// Identity is a created (or found) identity.
type Identity struct {
	// ID is OpenCTI's internal id.
	ID         string `json:"id"`
	StandardID string `json:"standard_id"`
	Name       string `json:"name"`
}

// IdentityInput describes the identity to create.
type IdentityInput struct {
	Type        IdentityType
	Name        string
	Description string
	// Markings are marking definition ids (internal or STIX).
	Markings []string
}

// EnsureIdentity creates the identity with its deterministic STIX id, or
// returns the existing one (OpenCTI upserts on the id). Calling it again is
// harmless.
func (c *Client) EnsureIdentity(ctx context.Context, in IdentityInput) (Identity, error) {
	stixID, err := IdentityStixID(in.Type, in.Name)
	if err != nil {
		return Identity{}, err
	}
	input := map[string]any{
		"stix_id": stixID,
		"name":    strings.TrimSpace(in.Name),
		"update":  true,
	}
	if in.Description != "" {
		input["description"] = in.Description
	}
	if len(in.Markings) > 0 {
		input["objectMarking"] = in.Markings
	}
	var out struct {
		SystemAdd           *Identity `json:"systemAdd"`
		SecurityPlatformAdd *Identity `json:"securityPlatformAdd"`
	}
	op := opSystemAdd
	if in.Type == IdentitySecurityPlatform {
		op = opSecurityPlatformAdd
	}
	if err := c.exec(ctx, op, map[string]any{"input": input}, &out, true); err != nil {
		return Identity{}, err
	}
	got := out.SystemAdd
	if in.Type == IdentitySecurityPlatform {
		got = out.SecurityPlatformAdd
	}
	if got == nil || got.ID == "" {
		return Identity{}, fmt.Errorf("opencti graphql %s: %w: no identity returned", op.name, errDecode)
	}
	return *got, nil
}
