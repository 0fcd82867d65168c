// Package ecsmode maps STIX indicators to ECS threat-indicator documents that
// Elastic Security's indicator-match rules use as they are.
//
// One document per observable of the pattern (see pattern.Observables): an
// indicator-match rule only matches single-valued indicator fields, so
// `[ipv4-addr:value = 'a'] OR [ipv4-addr:value = 'b']` gives two documents
// and `[file:hashes.MD5 = 'x' AND file:hashes.'SHA-256' = 'y']` one. Only
// equality comparisons (and IN lists) yield atomic values; other operators
// (!=, <, LIKE, MATCHES, ISSUBSET, ...) stay in opencti.indicator.pattern.
// Indicators with a non-STIX pattern type (yara, sigma, snort, ...) get one
// document with their pattern and no atomic value.
//
// Document ids are "<OpenCTI internal id>:<hash of the observable>", so a
// replayed event overwrites. An update whose reverse patch shows another
// pattern deletes the documents of observables no longer in it; deletes,
// merge sources, revocation and expiry (valid_until in the past) delete all
// of the indicator's documents. Expiry while nothing happens on the stream,
// and keeping documents inside the rules' 30-day window, are done on the
// engine by the expiry package.
//
// A pattern expanding past pattern.MaxObservables (1,000) gets the
// documents of its first 1,000 observables; the indicator is logged with
// its ids, its number of observables and the limit, and counted
// (observables_truncated_total, when the Mapper has a logger and metrics).
//
// Links (threat.indicator.reference, threat.feed.reference) are built
// from OpenCTI's URL without its userinfo: credentials in the URL never
// reach a document.
//
// Mapping is pure: the clock and the identity names (for
// threat.indicator.provider, learnt from identity objects on the stream)
// are the only inputs besides the event; the log and the counter only
// observe it.
package ecsmode
