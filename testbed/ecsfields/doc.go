// Package ecsfields checks documents against the fields they may carry: the
// fields of ECS 9.4.0 (testdata/ecs_flat.yml, embedded) and the opencti.*
// fields declared in _meta/fields.yml (through esindex.Fields). Tests use it
// to fail when a mapper writes a key that neither declares, or a value whose
// JSON type the field's mapping would reject, as metricbeat's
// mb/testing/testdata.go does for data.json.
//
// Only tests should import it: it embeds the 1.2 MB ECS definition file.
package ecsfields
