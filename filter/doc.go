// Package filter decides which indicators the beat keeps
// (openctibeat.filter): by label, observable type, minimum OpenCTI score,
// TLP ceiling and detection flag.
//
// Contract: Allow is pure and sees the object as it is now. Objects other
// than indicators always pass. An indicator that does not pass must leave
// no document behind, so a create or update it refuses is to be handled
// like a revocation (every document of the indicator deleted), not
// skipped: an indicator whose score drops below min_score, or that loses
// the imported label, disappears from the index. Deletes are never
// filtered.
//
// The label filter is the old connector's elastic.import_label; the other
// filters are new.
package filter
