// Package rules reads Elastic Security's five prebuilt indicator-match
// rules (testdata/, copied from elastic/detection-rules) so tests can check
// that ecs mode's documents are what those rules look for: the indices the
// rules read indicators from (threat_index), the query that selects
// indicator documents (threat_query and threat_filters), and which event
// field each indicator field is matched against (threat_mapping).
//
// The files are decoded with github.com/BurntSushi/toml, at the version
// libbeat's own module graph already selects.
//
// ThreatQueryDSL is what Kibana's detection engine sends to Elasticsearch
// for a rule's threat query: kql.go translates the KQL subset the five
// queries use (and, or, not, parentheses, field:value, field:"phrase",
// field:*, field:(a or b), wildcards, field >= "value") exactly as
// @kbn/es-query's toElasticsearchQuery does without a data view (field
// types unknown), and buildEsQuery then combines it with the rule's enabled
// threat_filters:
//
//	{"bool": {"filter": [<KQL>, <filter>...], "must_not": [<negated filter>...]}}
//
// Kibana also sends empty must and should arrays, left out here. With a
// data view that knows the fields, Kibana would write term and wildcard
// queries for keyword fields instead of match and query_string, and expand
// a wildcard field name (threat.indicator.file.hash.*) into one exists
// query per field; the documents matched are the same.
package rules
