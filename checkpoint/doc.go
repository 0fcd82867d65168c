// Package checkpoint keeps the stream position the beat resumes from.
//
// Contract: a position is saved only when the event it names, and every
// event received before it, was acknowledged by the output (or was skipped,
// which needs no acknowledgement). The Tracker receives every stream message
// in order, each with the number of documents published for it, and turns
// acknowledgements into the newest such position; the Store writes it
// atomically (temp file, fsync, rename) under the beat's data path.
//
// Recovery: OpenCTI replays the current state of every object as synthetic
// events whose ids are not monotonic. While a recovery is under way the
// saved position keeps the original start point and recover date, so a
// restart redoes the recovery (documents are idempotent); the position moves
// to an event id once the stream tails past the recover date.
package checkpoint
