// Package checkpoint keeps the stream position the beat resumes from.
//
// # What a position means
//
// A position is what the beat sends OpenCTI to resume: "from" (and
// Last-Event-ID) with StartFrom, and "recover" with RecoverUntil. OpenCTI
// resumes strictly after the id it is given. A position P is safe when
// every message OpenCTI would send with an id up to P has been received
// (and, for the saved position, acknowledged by the output). Three facts
// of the platform decide when that holds; they were read in OpenCTI's
// opencti-graphql/src/graphql/sseMiddleware.js and
// src/database/redis.ts (the test server testbed/octiserver
// follows them and names the functions):
//
//   - Several messages share one id. Before an event, a live stream sends
//     the objects the event refers to and the core relationships of its
//     object (each with its own references) that the connection has not
//     sent yet, as "create" messages with origin.referer "dependencies"
//     and the id of the event itself; the event comes last. A new
//     connection sends them again. A position E taken after the first
//     message of E's group would skip the rest of the group, the event
//     included, so E becomes a position only once the group is complete:
//     when a message with another id arrives, or a heartbeat with a later
//     id.
//   - A heartbeat is a timer. It fires every few seconds from the
//     connection's open, during a recovery too, and carries the id of the
//     last message sent (possibly of a group still being sent), or the last
//     id the reader handed over, or, when nothing new came, the platform's
//     current time as "<ms>-0". A heartbeat's own id is therefore never
//     taken as a position; a heartbeat only completes the groups before
//     its id.
//   - A recovery (first run with start.recover) replays the objects as
//     they are now, each as "create" with origin.referer "init" and the
//     synthetic id "<updated_at ms>-0": many objects share an id, ids are
//     not in order, and an object updated while the recovery runs carries
//     an id after the recover date. Nothing marks the end of a recovery.
//     While it runs, the position stays the original start and recover
//     date, so a restart or a reconnect recovers again from the same start
//     with the same date (documents are idempotent). It ends only on an id
//     strictly after "<recover ms>-0" that proves the platform tails: one
//     of the stream's own events (not "init", not "dependencies"), or a
//     heartbeat whose id is not the last message's (during a recovery a
//     heartbeat can only repeat it). The position then becomes
//     "<recover ms>-0", where the platform's reader started.
//
// The Cursor applies these rules message by message; the position a
// reconnect resumes from is the Cursor's.
//
// # Saving
//
// A position is saved only when the message it was reached at, and every
// message received before it, was acknowledged by the output (or was
// skipped, which needs no acknowledgement). The Tracker receives every
// stream message in order, each with the number of documents published for
// it and the Cursor's position after it, and turns acknowledgements into
// the newest such position, handed over in order; the Saver writes it off
// the acknowledging goroutine and the Store atomically (temp file, fsync,
// rename) under the beat's data path.
package checkpoint
