// Command octi-testserver serves a file of OpenCTI live-stream events (and
// OpenCTI's GraphQL API, validated against the real schema) for demos and
// benchmarks. See testbed/octiserver.
//
//	octi-testserver -addr 127.0.0.1:4000 -token secret \
//	    -events testbed/octiserver/testdata/sample-stream.jsonl -stream-id live-1
//
// The events file has one JSON object a line: {"id":"<ms>-<seq>",
// "event":"create","data":"<SSE data line>"} (data may also be a JSON value).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// listFlag is a repeatable flag that also splits on commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func main() {
	var streamIDs, stopped listFlag
	addr := flag.String("addr", "127.0.0.1:4000", "listen address")
	token := flag.String("token", "", "bearer token required from clients (empty: accept any)")
	events := flag.String("events", "", "file of events to serve, JSON lines {\"id\",\"event\",\"data\"}")
	heartbeat := flag.Duration("heartbeat", 5*time.Second, "heartbeat interval of idle streams")
	schema := flag.String("schema", "", "relay.schema.graphql to validate GraphQL requests with (default: the embedded OpenCTI schema)")
	flag.Var(&streamIDs, "stream-id", "live stream id served at /stream/{id} (repeatable or comma list; \"live\" and /stream are always served)")
	flag.Var(&stopped, "stopped-stream-id", "stream id answered 410 \"This live stream is stopped\" (repeatable or comma list)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("octi-testserver: ")

	var evs []octiserver.Event
	if *events != "" {
		start := time.Now()
		var err error
		if evs, err = octiserver.LoadEvents(*events); err != nil {
			log.Fatal(err)
		}
		log.Printf("loaded %d events from %s in %v", len(evs), *events, time.Since(start).Round(time.Millisecond))
	}
	srv, err := octiserver.Serve(*addr, octiserver.Options{
		Token:             *token,
		StreamIDs:         streamIDs,
		StoppedStreams:    stopped,
		Events:            evs,
		HeartbeatInterval: *heartbeat,
		Schema:            *schema,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving %s (streams: /stream, /stream/live", srv.URL())
	for _, id := range streamIDs {
		fmt.Printf(", /stream/%s", id)
	}
	fmt.Println("; GraphQL: /graphql)")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Close()
}
