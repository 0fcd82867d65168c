package esindex

import (
	_ "embed"

	"github.com/elastic/beats/v7/libbeat/mapping"
)

// fields.yml is a copy of _meta/fields.yml, the fields of ecs mode's
// documents: go:embed cannot reach a parent directory, and _meta is not a Go
// package. TestFieldsYMLIsMetaCopy fails while the two differ.
//
//go:generate cp ../_meta/fields.yml fields.yml
//go:embed fields.yml
var fieldsYML []byte

// FieldsYML returns the content of _meta/fields.yml (libbeat's fields.yml
// format), as embedded in the binary.
func FieldsYML() []byte {
	return append([]byte(nil), fieldsYML...)
}

// Fields returns the fields declared in _meta/fields.yml, parsed by
// libbeat: the groups of every top-level key, in file order.
func Fields() (mapping.Fields, error) {
	return mapping.LoadFields(fieldsYML)
}
