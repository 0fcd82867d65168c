package stix

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// OpenCTIExtension is the id of the extension OpenCTI adds to every object it
// streams (internal id, score, detection, ...).
const OpenCTIExtension = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"

// Object is one STIX 2.1 object as decoded from JSON.
type Object struct {
	// ID is the STIX id, "<type>--<uuid>".
	ID string
	// Type is the STIX type.
	Type string
	// InternalID is OpenCTI's internal id of the object (from the OpenCTI
	// extension); empty for objects that do not come from OpenCTI.
	InternalID string
	// Fields is the whole object, extensions included.
	Fields map[string]any
}

var (
	// ErrNotObject is returned for JSON that is not a STIX object.
	ErrNotObject = errors.New("not a STIX object")
	typeRe       = regexp.MustCompile(`^[a-z][a-z0-9-]{1,248}[a-z0-9]$`)
	uuidRe       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// FromMap checks a decoded object and reads its identifying properties.
func FromMap(m map[string]any) (Object, error) {
	if m == nil {
		return Object{}, fmt.Errorf("%w: null", ErrNotObject)
	}
	typ, _ := m["type"].(string)
	id, _ := m["id"].(string)
	if typ == "" {
		return Object{}, fmt.Errorf("%w: missing \"type\"", ErrNotObject)
	}
	if !typeRe.MatchString(typ) || strings.Contains(typ, "--") {
		return Object{}, fmt.Errorf("%w: unknown STIX type %q", ErrNotObject, typ)
	}
	if id == "" {
		return Object{}, fmt.Errorf("%w: %s without \"id\"", ErrNotObject, typ)
	}
	prefix, uuid, ok := strings.Cut(id, "--")
	if !ok || prefix != typ || !uuidRe.MatchString(uuid) {
		return Object{}, fmt.Errorf("%w: id %q is not \"%s--<uuid>\"", ErrNotObject, id, typ)
	}
	o := Object{ID: id, Type: typ, Fields: m}
	if ext, ok := m["extensions"].(map[string]any); ok {
		if octi, ok := ext[OpenCTIExtension].(map[string]any); ok {
			o.InternalID, _ = octi["id"].(string)
		}
	}
	return o, nil
}

// DocID is the object's stable document id: OpenCTI's internal id when
// known (it survives STIX id changes), else the STIX id.
func (o Object) DocID() string {
	if o.InternalID != "" {
		return o.InternalID
	}
	return o.ID
}

// String returns the object's property as a string, or "".
func (o Object) String(key string) string {
	s, _ := o.Fields[key].(string)
	return s
}
