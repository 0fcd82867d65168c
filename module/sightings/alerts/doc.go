// Package alerts reads Elastic Security indicator-match alerts: the search
// (sorted by @timestamp and tie-breakers, paginated with search_after) and
// the parsing of both document shapes into an Alert.
//
// Shapes:
//   - 8.x and later (.alerts-security.alerts-*): flat "kibana.alert.*" keys,
//     kibana.alert.original_time, threat.enrichments[].
//   - 7.15 to 7.17 (.siem-signals-*): signal.original_time, threat.enrichments[].
//   - 7.12 to 7.14 (.siem-signals-*): threat.indicator[] whose entries carry
//     the match in "matched" (entries without it are the source event's own
//     threat data and are ignored).
//
// Keys may be nested objects or dotted names at any level ("kibana.alert.uuid"
// or {"kibana":{"alert":{"uuid":...}}}); Get reads both.
package alerts
