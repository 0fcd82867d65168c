// Package esindex owns the indices the beat writes and their index
// templates, and plugs them into libbeat's index management: `setup
// --index-management`, `export template` and the set-up libbeat runs on each
// Elasticsearch output connection all load these templates through
// libbeat's own template loader.
//
// The beat writes plain indices, not data streams: a data stream accepts
// only `create`, so documents could never be replaced or deleted by id.
// libbeat's generated templates always declare a data stream, so the
// templates here are handed to libbeat's loader as JSON templates with
// data_stream off.
package esindex
