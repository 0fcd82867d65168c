// Package bench is openctibeat's throughput benchmark (issue #6), run by
// `go run mage.go bench`. It prints figures; nothing in it asserts a time.
//
// One run:
//
//   - Generate makes a deterministic stream of N indicator create events
//     shaped like OpenCTI's stream-event samples (mixed observable types,
//     OR-patterns, labels, markings, kill chain phases, descriptions of
//     varying length, the OpenCTI extension), about 2 KB each as SSE.
//   - Server serves it as OpenCTI frames its live stream and records when
//     each event was written to the connection ("emitted": the write
//     returned, the bytes are in the kernel's socket buffer).
//   - The real beat binary (ecs mode, start.from 0-0, no recovery) reads it
//     and writes to (a) Sink, an in-process Elasticsearch stand-in that only
//     parses the _bulk bodies, counts and acknowledges, and (b) the real
//     OpenSearch through the test bed's Elasticsearch-compatibility proxy,
//     wrapped by Timing. Completion is the beat's saved position reaching the
//     last event id.
//   - Baselines on the same data: BareLoop reads the same SSE bytes from the
//     same kind of server with a bufio line reader and decodes every event's
//     JSON with encoding/json into the types the beat decodes into; Load
//     writes the documents the beat sent to OpenSearch (captured on the way)
//     straight into the same OpenSearch with plain _bulk requests.
//
// Latency is measured per document from the event's emission to the moment
// the sink (or OpenSearch, seen by Timing) finished answering the _bulk
// request that carried it. libbeat acknowledges a batch right after it has
// read that answer, so this is a faithful proxy of "emitted to acknowledged
// by the output". The sink maps a document back to its event through the
// document _id, which starts with the indicator's OpenCTI internal id, in
// which the generator encodes the event's index.
package bench
