// Package api is the beat's GraphQL client of OpenCTI (POST {url}/graphql,
// Authorization: Bearer <token>), built on github.com/hasura/go-graphql-client.
//
// Every operation the client can send is a named document in this package
// (see Operations); the tests validate each of them against OpenCTI's real
// schema, so a field or argument the platform does not have fails the build
// of the test suite rather than a production poll.
//
// Errors: transport failures and HTTP 5xx/429 answers are *TransportError and
// are retried with exponential back-off (context-aware) by every method but
// AddSighting, never past RetryBound × opencti.timeout for the whole call
// (a retry starts only if it can end within that bound); GraphQL errors (OpenCTI answers them with HTTP 200, or 400 for
// documents it rejects) are *GraphQLError, naming the operation and carrying
// each message and its extensions.code, and are never retried here.
//
// AddSighting is sent once: OpenCTI's upsert of a sighting is not idempotent
// (the attribute count is added when a date moves and replaced otherwise),
// so resending a mutation whose answer was lost could change the count. The
// caller re-reads the sighting and recomputes its input instead (see
// module/sightings).
package api
