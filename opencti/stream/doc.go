// Package stream reads OpenCTI's live stream (Server-Sent Events) and hands
// every message to a handler, in order, one connection at a time.
//
// The package owns the reconnect loop: r3labs/sse is given a StopBackOff so
// that one Subscribe call is one HTTP connection. A connection ends when the
// server closes it, when it fails, or when no id-bearing message (heartbeats
// included) arrived within the idle timeout; the client then reconnects with
// exponential back-off from the start point the caller supplies, which lets
// the caller resume from the last event it received (Last-Event-ID) or redo a
// recovery. The back-off is reset only by a connection that handed over a
// message past every one before (being accepted is not enough), so a server
// that drops every connection is not retried at the initial interval
// forever. Errors that a retry cannot fix (a bad token: HTTP 401) are
// reported to the caller as a *StatusError and retried with the maximum
// back-off, never ending the process.
//
// Only whole messages are handed over: a message cut by the end of a
// connection is dropped (the reconnect resumes before it), and a message
// over Config.MaxEventSize is read past, in bounded memory, and handed over
// in its place with its id and event name but without its data
// (Message.Oversize), for the caller to skip.
package stream
