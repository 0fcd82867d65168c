// Package expiry keeps ecs mode's documents true to time on the engine,
// without any state in the beat:
//
//   - Expiry: a document whose opencti.indicator.valid_until has passed is
//     deleted at that moment (a timer set to the earliest upcoming
//     valid_until, learnt from the engine and from the documents the beat
//     writes), not at the indicator's next update. A check every
//     CheckInterval catches documents that were still in flight.
//   - Refresh: Elastic Security's indicator-match rules only read
//     indicators whose @timestamp is within the last 30 days. Documents of
//     still-valid indicators older than RefreshAfter get a new @timestamp.
//
// Both are single server-side requests (_delete_by_query and
// _update_by_query with conflicts=proceed): a document changed by the
// stream meanwhile is left alone, and the next round sees it again.
package expiry
