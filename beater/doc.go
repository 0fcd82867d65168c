// Package beater is the composition root of openctibeat: it unpacks the
// configuration, builds each stage (stream, decode, map, publish,
// checkpoint) with its logger and metrics, wires them and runs them. It
// holds no domain logic of its own.
//
// Stopping: libbeat closes the publisher pipeline, then calls Stop. New
// hands libbeat a publish.Guard in place of the pipeline: on close, it
// stops taking events, gives the output up to CloseWait to acknowledge
// those already published, then stops forwarding acknowledgements (libbeat
// reports the events it drops while closing as acknowledged) and closes
// the pipeline, which waits up to its own close timeout (one second). On
// Stop, Run closes its pipeline client at once, which releases every stage
// waiting on the output (a full queue, a document waiting for the
// acknowledgement of its previous write), lets the stream end, and saves
// the last acknowledged position. Nothing there waits for the output, and
// Beater.Run returns at most StopTimeout after Stop in any case. Events
// not acknowledged are never counted in the saved position; they are read
// again at the next start.
package beater
