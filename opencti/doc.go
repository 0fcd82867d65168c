// Package opencti holds what every OpenCTI client of the beat shares: the
// platform's address, the API token and the HTTP transport settings.
// Subpackages talk to OpenCTI: stream reads the live stream, event decodes
// its messages.
package opencti
