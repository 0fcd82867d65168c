// Package beater is the composition root of openctibeat: it unpacks the
// configuration, builds each stage (stream, decode, map, publish,
// checkpoint) with its logger and metrics, wires them and runs them. It
// holds no domain logic of its own.
package beater
