// Package sightings is openctibeat's companion module that turns Elastic
// Security indicator-match alerts into OpenCTI sightings: every alert that
// matched an OpenCTI indicator is counted once in the sighting from that
// indicator to a "where sighted" identity (a System, or a SecurityPlatform).
//
// A poll (every interval) reads the alerts after the checkpoint, sorted by
// @timestamp and tie-breakers and paginated with search_after; finds each
// alert's indicator (the OpenCTI ids in the enrichment, else the matched
// indicator document, else an OpenCTI search by the matched value); adds the
// alert to its indicator's totals (count, earliest and latest original event
// time); sends one stixSightingRelationshipAdd per indicator; and, once
// OpenCTI confirmed them all, writes the new checkpoint and totals to one
// state file under the beat's data path, atomically, unless nothing changed.
//
// Exactly-once counting rests on three rules (see _meta/docs.md):
//   - one sighting per (indicator, identity), with a deterministic STIX id;
//   - totals come from the module's persisted state plus the new alerts,
//     never from re-adding to what OpenCTI holds, and the alert ids read in
//     the overlap window are remembered, so a replay cannot count twice;
//   - before each mutation the sighting is read back and the count sent is
//     chosen for OpenCTI's upsert rule (sum when a date moves, replace
//     otherwise) so that the stored count ends equal to the total;
//   - records of sightings last seen over 30 days ago are pruned; a sighting
//     without a record (pruned, or new) gets its base from OpenCTI, saved
//     in the state before the poll's first mutation, so a late alert is
//     neither lost nor, after a kill, counted twice.
//
// Bad alerts (missing time, malformed enrichments, unknown indicator) are
// counted under skipped.<reason>_total, logged and passed over; the module
// never stops on errors: a failed poll is retried at the next interval from
// the same checkpoint.
package sightings
