// Package connector makes the beat an OpenCTI connector of type STREAM, as
// the retired Python connector was: it registers itself (registerConnector)
// and pings OpenCTI (pingConnector, every 40 s by default) with its stream
// position as connector state, in the shape OpenCTI's Python client (pycti)
// keeps it: {"start_from": "<event id>", "recover_until": "<ISO date>"}.
// The connector and its position then show in OpenCTI's UI (Data > Ingestion
// > Connectors).
//
// Contract:
//   - The state sent is the position the caller's acked function returns:
//     the acknowledged position (everything up to it was written by the
//     output), never a position ahead of it. When acked has nothing, no ping
//     is sent: OpenCTI saves whatever state a ping carries, an absent one
//     included.
//   - The local saved position is the source of truth. OpenCTI's state only
//     matters when an operator resets it: pingConnector then answers with a
//     state other than the one sent (OpenCTI's "reset state" empties it; a
//     state written through the API can be any position). Run calls onReset
//     with that position, once, and logs why at warn level. An empty state
//     is reported as the zero checkpoint.Position, which means "start over
//     from the configured start point" (what pycti does after a reset). A
//     returned state that cannot be read is logged and ignored.
//   - OpenCTI being down never stops the beat: Register retries with
//     exponential back-off (1 s doubling to 1 min) until it succeeds or its
//     context ends; Run logs failed pings and tries again at the next one.
//     A ping refused with a GraphQL error (the connector was deleted in
//     OpenCTI, ...) makes the next tick register the connector again.
//
// Without connector.id the connector is disabled: nothing is registered or
// pinged, and one info line says so. The beat does not make an id up (for
// example a UUIDv5 of the stream URL): an id OpenCTI has not seen registers
// a new connector, two beats reading the same stream into different outputs
// would share one and overwrite each other's state (each seeing the other's
// position as a reset), and a changed URL would leave an orphan behind. Set
// the id the Python connector used (CONNECTOR_ID) to take over its entry.
package connector
