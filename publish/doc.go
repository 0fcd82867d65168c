// Package publish hands documents to the libbeat pipeline through one
// client with per-event acknowledgements, and reports acknowledgements to
// the checkpoint tracker. Each document becomes a beat.Event whose
// @metadata carries _id, op_type and index for the Elasticsearch output.
//
// Guard wraps libbeat's pipeline so that the events libbeat drops while it
// closes, which it reports as acknowledged, never move the position.
package publish
