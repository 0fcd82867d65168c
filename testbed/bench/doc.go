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
//
// Running it:
//
//	go run mage.go bench                                  # N=200000, fast sink + OpenSearch
//	BENCH_N=1000000 BENCH_SKIP_ENGINE=1 go run mage.go bench  # the RSS target
//	BENCH_PROFILE=1 BENCH_REPEAT=3 go run mage.go bench   # + pprof, medians of 3
//
// Knobs (OptionsFromEnv): BENCH_N, BENCH_REPEAT, BENCH_PROFILE,
// BENCH_SKIP_ENGINE, BENCH_SKIP_FAST, BENCH_FLUSH_TIMEOUT (the beat's
// queue.mem.flush.timeout: 1s by default here; "default" for libbeat's 10s,
// with which a backfill's last partial batch waits 10 s and a slow live feed
// sees seconds of latency), BENCH_LIVE_RATE / BENCH_LIVE_SECONDS / BENCH_LIVE,
// BENCH_OCTISERVER, BENCH_BEAT_EXTRA, BENCH_KEEP_CAPTURE,
// BENCH_LIBBEAT_DEFAULTS=1 (libbeat's output and queue sizes instead of
// opencti-beat.yml's 2 workers, bulk_max_size 800, queue.mem.events 1600);
// OPENCTIBEAT_OPENSEARCH_URL reuses a running engine. Everything lands in
// build/bench/: one directory per run of the beat (configuration, data,
// beat.log), report.json, and the profiles.
//
// Besides the fast-sink runs, a paced "live" run (2,000 events/s for 15 s
// by default) gives the latency of a live feed rather than of a backfill,
// and a cross-check run is fed by the project's OpenCTI test server
// (throughput only: it cannot tell when it wrote each event). The stage
// benchmarks in stages_test.go give the CPU cost of each stage per
// indicator:
//
//	go test -run '^$' -bench Stage -benchtime 4x ./testbed/bench/
//
// The machine is shared: each run prints how busy the rest of the machine
// was, the harness's own CPU, and the figures vary by 10-25% between runs.
package bench
