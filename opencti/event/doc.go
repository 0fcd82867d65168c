// Package event decodes the data of OpenCTI live-stream messages into typed
// events. Decoding is pure: a message either becomes an Event or a *Error
// that names the event id and why it was refused; nothing here panics on
// any input. JSON nested deeper than MaxDepth is refused by a linear scan
// before it reaches the decoder, whose recursion it would otherwise
// overflow.
package event
