package octiserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "0b6a3d5e-test-token"

// Ids of testdata/sample-stream.jsonl, in order.
var sampleIDs = []string{
	"1698942800409-0", // 0 create indicator (domain)
	"1699011048998-0", // 1 create indicator (file)
	"1699018440077-0", // 2 create sighting
	"1699020914368-0", // 3 create relationship
	"1715348987464-0", // 4 create directory
	"1763023626423-0", // 5 create malware (merge target)
	"1763023626423-1", // 6 create malware (merge source)
	"1763110800000-0", // 7 update indicator (file): score 80
	"1763111100000-0", // 8 merge malware
	"1763111400000-0", // 9 delete indicator (domain)
	"1763111700000-0", // 10 create inferred relationship
}

func sampleEvents(t testing.TB) []Event {
	t.Helper()
	evs, err := LoadEvents("testdata/sample-stream.jsonl")
	require.NoError(t, err)
	require.Len(t, evs, len(sampleIDs))
	return evs
}

func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	s, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// sse is a minimal SSE reader: its own line parser, independent of the
// project's client.
type sseEvent struct {
	ID    string
	HasID bool
	Name  string
	Data  string
}

type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	err    error // valid once events is closed
}

func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(t testing.TB, rawURL, token string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient(t).Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func openStream(t testing.TB, s *Server, pathAndQuery string, header map[string]string) *sseStream {
	t.Helper()
	resp := get(t, s.URL()+pathAndQuery, testToken, header)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Status)
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	st := &sseStream{resp: resp, events: make(chan sseEvent, 4096)}
	go st.read()
	return st
}

func (st *sseStream) read() {
	defer close(st.events)
	br := bufio.NewReaderSize(st.resp.Body, 64<<10)
	var ev sseEvent
	var data []string
	pending := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			st.err = err
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if pending {
				ev.Data = strings.Join(data, "\n")
				st.events <- ev
			}
			ev, data, pending = sseEvent{}, nil, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		pending = true
		switch field {
		case "id":
			ev.ID, ev.HasID = value, true
		case "event":
			ev.Name = value
		case "data":
			data = append(data, value)
		}
	}
}

// next returns the next event; ok is false when the stream ended.
func (st *sseStream) next(t testing.TB) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-st.events:
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("timeout waiting for an SSE event")
		return sseEvent{}, false
	}
}

func (st *sseStream) mustNext(t testing.TB) sseEvent {
	t.Helper()
	ev, ok := st.next(t)
	if !ok {
		t.Fatalf("stream ended: %v", st.err)
	}
	return ev
}

// nextData skips heartbeats.
func (st *sseStream) nextData(t testing.TB) sseEvent {
	t.Helper()
	for {
		ev := st.mustNext(t)
		if ev.Name != "heartbeat" {
			return ev
		}
	}
}

// connected reads and checks the connected event.
func (st *sseStream) connected(t testing.TB) map[string]any {
	t.Helper()
	ev := st.mustNext(t)
	require.Equal(t, "connected", ev.Name)
	require.False(t, ev.HasID, "connected has no id")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &m))
	require.NotEmpty(t, m["connectionId"])
	return m
}

// ended waits for the stream to end and returns the read error.
func (st *sseStream) ended(t testing.TB) error {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-st.events:
			if !ok {
				return st.err
			}
		case <-deadline:
			t.Fatal("stream did not end")
			return nil
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStreamAuthAndErrors(t *testing.T) {
	s := newServer(t, Options{StreamIDs: []string{"s1"}, StoppedStreams: []string{"old"}, Events: sampleEvents(t)})
	cases := []struct {
		name, path, token string
		header            map[string]string
		status            int
		reason            string
		authOK            bool
	}{
		{"raw no token", "/stream", "", nil, 401, msgNotAuthenticated, false},
		{"raw wrong token", "/stream", "nope", nil, 401, msgNotAuthenticated, false},
		{"live wrong token", "/stream/live", "nope", nil, 401, msgNotAuthenticated, false},
		{"configured wrong token", "/stream/s1", "nope", nil, 401, msgNotAuthenticated, false},
		{"unknown stream", "/stream/unknown", testToken, nil, 401, msgNotAuthorized, true},
		{"stopped stream", "/stream/old", testToken, nil, 410, msgStopped, true},
		{"recover without start", "/stream/s1?recover=2025-01-01T00:00:00Z", testToken, nil, 500,
			"Error in stream s1: Recovery mode is only possible with a start date.", true},
		{"recover-date header without start", "/stream/s1", testToken, map[string]string{"recover-date": "2025-01-01T00:00:00Z"}, 500,
			"Error in stream s1: Recovery mode is only possible with a start date.", true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, s.URL()+tc.path, tc.token, tc.header)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, fmt.Sprintf("%d %s", tc.status, tc.reason), resp.Status)
			body, _ := io.ReadAll(resp.Body)
			assert.Empty(t, body)
			reqs := s.StreamRequests()
			require.Len(t, reqs, i+1)
			assert.Equal(t, tc.status, reqs[i].Status)
			assert.Equal(t, tc.authOK, reqs[i].AuthOK)
		})
	}
	assert.Zero(t, s.OpenStreams())
}

// sampleObjects are the objects the sample stream's events refer to, in
// the platform's database (testdata/sample-objects.json).
func sampleObjects(t testing.TB) []any {
	t.Helper()
	b, err := os.ReadFile("testdata/sample-objects.json")
	require.NoError(t, err)
	var objs []any
	require.NoError(t, json.Unmarshal(b, &objs))
	return objs
}

// sampleServer serves the sample stream with its objects in the database.
func sampleServer(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.Events = sampleEvents(t)
	opts.Objects = sampleObjects(t)
	return newServer(t, opts)
}

// msg renders a data message as "<id> <event> <referer or -> <STIX id>".
func msg(t testing.TB, ev sseEvent) string {
	t.Helper()
	var env struct {
		Data   map[string]any `json:"data"`
		Origin map[string]any `json:"origin"`
		Type   *string        `json:"type"`
	}
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &env), ev.Data)
	ref, _ := env.Origin["referer"].(string)
	if ref == "" {
		ref = "-"
		require.NotNil(t, env.Type, "a stream event carries its type")
		assert.Equal(t, ev.Name, *env.Type)
	} else {
		assert.Nil(t, env.Type, "dependencies and recovered objects carry no type, as in OpenCTI")
	}
	return fmt.Sprintf("%s %s %s %v", ev.ID, ev.Name, ref, env.Data["id"])
}

// collect reads n data messages; every heartbeat met on the way must carry
// the id of the message before it (the channel's lastEventId), or before
// any, first. It returns the messages rendered by msg.
func (st *sseStream) collect(t testing.TB, n int, first string) []string {
	t.Helper()
	var got []string
	last := first
	for len(got) < n {
		ev := st.mustNext(t)
		if ev.Name == "heartbeat" {
			require.Equal(t, last, ev.ID, "a heartbeat repeats the last id sent (after %v)", got)
			continue
		}
		got = append(got, msg(t, ev))
		last = ev.ID
	}
	return got
}

// until reads data messages until a heartbeat carrying stop, checking
// every other heartbeat as collect does.
func (st *sseStream) until(t testing.TB, stop, first string) []string {
	t.Helper()
	var got []string
	last := first
	for {
		ev := st.mustNext(t)
		if ev.Name == "heartbeat" {
			if ev.ID == stop {
				assert.Equal(t, `"`+isoMillis(int64(mustID(t, stop).ms))+`"`, ev.Data)
				return got
			}
			require.Equal(t, last, ev.ID, "a heartbeat repeats the last id sent (after %v)", got)
			continue
		}
		got = append(got, msg(t, ev))
		last = ev.ID
	}
}

func mustID(t testing.TB, id string) idKey {
	k, ok := parseID(id)
	require.True(t, ok, id)
	return k
}

// groups collapses consecutive messages of one id.
func groups(msgs []string) []string {
	var ids []string
	for _, m := range msgs {
		id, _, _ := strings.Cut(m, " ")
		if len(ids) == 0 || ids[len(ids)-1] != id {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestStreamStartPoints(t *testing.T) {
	s := sampleServer(t, Options{StreamIDs: []string{"s1"}, HeartbeatInterval: 100 * time.Millisecond})
	ids := sampleIDs
	cases := []struct {
		name   string
		path   string
		header map[string]string
		start  string // the start id: the heartbeat's id before anything is sent
		want   []string
	}{
		{"from=0", "/stream/s1?from=0", nil, "0-0", ids[:10]},
		{"from=0-0", "/stream/live?from=0-0", nil, "0-0", ids[:10]},
		{"Last-Event-ID resumes strictly after", "/stream/s1", map[string]string{"Last-Event-ID": ids[3]}, ids[3], ids[4:10]},
		{"from header", "/stream/s1", map[string]string{"From": ids[7]}, ids[7], ids[8:10]},
		{"query from wins over Last-Event-ID", "/stream/s1?from=" + ids[8], map[string]string{"Last-Event-ID": ids[0]}, ids[8], ids[9:10]},
		{"ISO date: after <ms>-0", "/stream/s1?from=2025-11-13T08:47:06.423Z", nil, "1763023626423-0", ids[6:10]},
		{"ISO day", "/stream/s1?from=2024-01-01", nil, "1704067200000-0", ids[4:10]},
		{"id between events", "/stream/s1?from=1700000000000-5", nil, "1700000000000-5", ids[4:10]},
		{"listen-delete=false", "/stream/s1?from=0&listen-delete=false", nil, "0-0", ids[:9]},
		{"with-inferences=true", "/stream/s1?from=0&with-inferences=true", nil, "0-0", ids[:11]},
		{"raw stream sends everything, no dependency", "/stream?from=0&listen-delete=false", nil, "0-0", ids[:11]},
		{"at the end", "/stream/s1?from=" + ids[10], nil, ids[10], nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStream(t, s, tc.path, tc.header)
			info := st.connected(t)
			assert.Equal(t, ids[10], info["lastEventId"])
			assert.Equal(t, ids[0], info["firstEventId"])
			assert.Equal(t, "2023-11-02T16:33:20.409Z", info["firstEventDate"])
			assert.Equal(t, "2025-11-14T09:15:00.000Z", info["lastEventDate"])
			assert.EqualValues(t, 11, info["streamSize"])
			// Then nothing else: the next heartbeat carries the last id of
			// the batch read (skipped events included).
			got := st.until(t, ids[10], tc.start)
			assert.Equal(t, tc.want, groups(got))
			if strings.HasPrefix(tc.path, "/stream?") {
				for _, m := range got {
					assert.NotContains(t, m, " dependencies ", "the raw stream sends no dependency")
				}
			}
		})
	}
	reqs := s.StreamRequests()
	require.Len(t, reqs, len(cases))
	r := reqs[4]
	assert.Equal(t, "/stream/s1", r.Path)
	assert.Equal(t, "s1", r.StreamID)
	assert.Equal(t, ids[8], r.From)
	assert.Equal(t, ids[0], r.LastEventID)
	assert.Equal(t, ids[8], r.StartID)
	assert.True(t, r.AuthOK)
	assert.Equal(t, "false", reqs[8].ListenDelete)
	assert.False(t, reqs[8].ListenDeletes)
	assert.Equal(t, "true", reqs[9].WithInferences)
	assert.True(t, reqs[9].Inferences)
	assert.Equal(t, "1763023626423-0", reqs[5].StartID)
}

// TestDependencyGroups: before each event the platform sends what it
// refers to and (unless no-dependencies) its core relationships with
// their refs, all with the event's id, once per connection
// (sseMiddleware.js resolveAndPublishDependencies).
func TestDependencyGroups(t *testing.T) {
	s := sampleServer(t, Options{StreamIDs: []string{"s1"}, HeartbeatInterval: time.Hour})
	const (
		identity   = "identity--4f347cc9-4658-59ee-9707-134f434f9d1c"
		clear      = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
		indDomain  = "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"
		indFile    = "indicator--4099edd7-1efd-54aa-9736-7bcd7219b78b"
		location   = "location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d"
		sighting   = "sighting--98b904c3-6836-4b94-90f0-8f3b25ec6349"
		actor      = "threat-actor--fd6b0e6f-96e0-568d-ba24-8a140d0428cd"
		grouping   = "grouping--e09ce86e-0bd0-5a09-a5e9-4ebd76b79bd4"
		rel        = "relationship--21c1841a-7b2d-40a5-9398-5fd979384467"
		directory  = "directory--8cdc9b17-880f-566c-a1ba-eb9a04063df7"
		malware    = "malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710"
		malwareSrc = "malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518711"
	)
	ids := sampleIDs
	tail := []string{
		ids[4] + " create - " + directory,
		ids[5] + " create - " + malware,
		ids[6] + " create - " + malwareSrc,
		ids[7] + " update - " + indFile,
		ids[8] + " merge - " + malware,
		ids[9] + " delete - " + indDomain,
	}
	cases := []struct {
		name, path string
		want       []string
	}{
		{"dependencies", "/stream/s1?from=0", append([]string{
			ids[0] + " create dependencies " + identity,
			ids[0] + " create dependencies " + clear,
			ids[0] + " create - " + indDomain,
			// The sighting of the file indicator is a core relationship: it
			// comes with its refs (the indicator as it is now, the place),
			// before the indicator's own (older) create.
			ids[1] + " create dependencies " + indFile,
			ids[1] + " create dependencies " + location,
			ids[1] + " create dependencies " + sighting,
			ids[1] + " create - " + indFile,
			ids[2] + " create - " + sighting,
			ids[3] + " create dependencies " + actor,
			ids[3] + " create dependencies " + grouping,
			ids[3] + " create - " + rel,
		}, tail...)},
		// no-dependencies leaves out core relationships only: refs still come.
		{"no-dependencies", "/stream/s1?from=0&no-dependencies=true", append([]string{
			ids[0] + " create dependencies " + identity,
			ids[0] + " create dependencies " + clear,
			ids[0] + " create - " + indDomain,
			ids[1] + " create - " + indFile,
			ids[2] + " create dependencies " + location,
			ids[2] + " create - " + sighting,
			ids[3] + " create dependencies " + actor,
			ids[3] + " create dependencies " + grouping,
			ids[3] + " create - " + rel,
		}, tail...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStream(t, s, tc.path, nil)
			st.connected(t)
			assert.Equal(t, tc.want, st.collect(t, len(tc.want), "0-0"))
			// A new connection has an empty cache: the dependencies come again.
			st2 := openStream(t, s, tc.path, nil)
			st2.connected(t)
			assert.Equal(t, tc.want[:3], st2.collect(t, 3, "0-0"))
		})
	}
	t.Run("a relationship whose ends are unknown is not sent", func(t *testing.T) {
		s := newServer(t, Options{Events: sampleEvents(t), HeartbeatInterval: time.Hour})
		st := openStream(t, s, "/stream/live?from="+ids[1], nil)
		st.connected(t)
		// Neither the sighting (its place is unknown) nor the relationship
		// (its actor and grouping are unknown) is sent.
		assert.Equal(t, ids[4]+" create - "+directory, st.collect(t, 1, ids[1])[0])
	})
	t.Run("the cache is bounded", func(t *testing.T) {
		s := sampleServer(t, Options{HeartbeatInterval: time.Hour, CacheSize: 1})
		st := openStream(t, s, "/stream/live?from=0&no-dependencies=true", nil)
		st.connected(t)
		got := st.collect(t, 5, "0-0")
		// The indicator's create evicted the identity: the next indicator
		// refers to it again.
		assert.Equal(t, []string{
			ids[0] + " create dependencies " + identity,
			ids[0] + " create dependencies " + clear,
			ids[0] + " create - " + indDomain,
			ids[1] + " create dependencies " + identity,
			ids[1] + " create dependencies " + clear,
		}, got)
	})
}

func TestStreamRecover(t *testing.T) {
	s := sampleServer(t, Options{StreamIDs: []string{"s1"}, HeartbeatInterval: 100 * time.Millisecond})
	const recoverDate = "2025-11-14T09:06:00.000Z" // between ids[8] and ids[9]
	// The current state of the objects updated up to the recovery date (not
	// the deleted indicator, nor the merged away malware, nor the inferred
	// relationship), by page in the engine's order (internal id), each
	// after its missing dependencies, with "<updated_at ms>-0" ids: not
	// monotonic, and an object already sent as a dependency is not sent
	// again.
	withDeps := []string{
		"1715348987464-0 create init directory--8cdc9b17-880f-566c-a1ba-eb9a04063df7",
		"1763110800000-0 create dependencies identity--4f347cc9-4658-59ee-9707-134f434f9d1c",
		"1763110800000-0 create dependencies marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
		"1763110800000-0 create dependencies indicator--4099edd7-1efd-54aa-9736-7bcd7219b78b",
		"1763110800000-0 create dependencies location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d",
		"1763110800000-0 create dependencies sighting--98b904c3-6836-4b94-90f0-8f3b25ec6349",
		"1672531200000-0 create dependencies threat-actor--fd6b0e6f-96e0-568d-ba24-8a140d0428cd",
		"1672531200000-0 create dependencies grouping--e09ce86e-0bd0-5a09-a5e9-4ebd76b79bd4",
		"1672531200000-0 create dependencies relationship--21c1841a-7b2d-40a5-9398-5fd979384467",
		"1763111100000-0 create init malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710",
	}
	noDeps := []string{
		"1715348987464-0 create init directory--8cdc9b17-880f-566c-a1ba-eb9a04063df7",
		"1763110800000-0 create dependencies identity--4f347cc9-4658-59ee-9707-134f434f9d1c",
		"1763110800000-0 create dependencies marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
		"1763110800000-0 create init indicator--4099edd7-1efd-54aa-9736-7bcd7219b78b",
		"1672531200000-0 create init location--b8d0549f-de06-5ebd-a6e9-d31a581dba5d",
		"1672531200000-0 create init threat-actor--fd6b0e6f-96e0-568d-ba24-8a140d0428cd",
		"1672531200000-0 create init grouping--e09ce86e-0bd0-5a09-a5e9-4ebd76b79bd4",
		"1699018440077-0 create init sighting--98b904c3-6836-4b94-90f0-8f3b25ec6349",
		"1699020914368-0 create init relationship--21c1841a-7b2d-40a5-9398-5fd979384467",
		"1763111100000-0 create init malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710",
	}
	cases := []struct {
		name      string
		path      string
		header    map[string]string
		want      []string
		recovered int
	}{
		{"query", "/stream/s1?from=0&recover=" + recoverDate, nil, withDeps, 2},
		{"headers", "/stream/s1", map[string]string{"Last-Event-ID": "0", "Recover-Date": recoverDate}, withDeps, 2},
		{"no-dependencies", "/stream/s1?from=0&no-dependencies=true&recover=" + recoverDate, nil, noDeps, 8},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStream(t, s, tc.path, tc.header)
			st.connected(t)
			got := st.collect(t, len(tc.want)+1, "0-0")
			assert.Equal(t, tc.want, got[:len(tc.want)])
			// Then the tail, strictly after "<recover ms>-0".
			assert.Equal(t, sampleIDs[9]+" delete - indicator--86d9fae0-300e-54a8-9b7e-041e303406ad", got[len(tc.want)])
			hb := st.mustNext(t)
			assert.Equal(t, "heartbeat", hb.Name)
			assert.Equal(t, sampleIDs[10], hb.ID)
			r := s.StreamRequests()[i]
			assert.Equal(t, "1763111160000-0", r.RecoverID)
			assert.Equal(t, tc.recovered, r.Recovered)
		})
	}
	t.Run("recovered objects carry OpenCTI's envelope", func(t *testing.T) {
		st := openStream(t, s, "/stream/s1?from=0&recover="+recoverDate, nil)
		st.connected(t)
		ev := st.mustNext(t)
		var env struct {
			Data    map[string]any `json:"data"`
			Message string         `json:"message"`
			Origin  map[string]any `json:"origin"`
			Version string         `json:"version"`
		}
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &env))
		assert.Equal(t, "init", env.Origin["referer"])
		assert.Equal(t, "4", env.Version)
		assert.True(t, strings.HasPrefix(env.Message, "creates a "), env.Message)
	})
	t.Run("raw stream ignores recover", func(t *testing.T) {
		st := openStream(t, s, "/stream?recover="+recoverDate+"&from=0", nil)
		st.connected(t)
		assert.Equal(t, sampleIDs[0], st.mustNext(t).ID)
	})
	t.Run("recover before start: no recovery", func(t *testing.T) {
		st := openStream(t, s, "/stream/s1?from="+sampleIDs[8]+"&recover=2020-01-01T00:00:00Z", nil)
		st.connected(t)
		assert.Equal(t, sampleIDs[9], st.mustNext(t).ID)
	})
}

// TestRecoveryIsSlowAndBeaten: with the platform's delay between pages,
// heartbeats fire during the recovery, each repeating the id of the last
// message sent; an object updated between its page's listing and its load
// is sent as it is now, with a synthetic id after the recover date.
func TestRecoveryIsSlowAndBeaten(t *testing.T) {
	var s *Server
	updated := map[string]any{
		"id": "directory--8cdc9b17-880f-566c-a1ba-eb9a04063df7", "type": "directory", "spec_version": "2.1", "path": "/tmp/changed",
		"extensions": map[string]any{octiExtension: map[string]any{"id": "0d7e0e49-3f3e-4f5a-9a47-000000000001", "type": "Directory", "updated_at": "2026-01-01T00:00:00.000Z"}},
	}
	s = sampleServer(t, Options{HeartbeatInterval: 15 * time.Millisecond, RecoveryPageSize: 1, Delay: 40 * time.Millisecond,
		OnRecoveryPage: func(page int) {
			if page == 7 { // the directory's page (pages of one object, by updated_at): change it before its load
				s.Append(Event{ID: s.NextID(), Name: "update", Data: Envelope("update", updated, map[string]any{"patch": []any{}, "reverse_patch": []any{}})})
			}
		}})
	st := openStream(t, s, "/stream/live?from=0&no-dependencies=true&recover=2025-11-14T09:06:00.000Z", nil)
	st.connected(t)
	heartbeats, last, n := 0, "0-0", 0
	var dir string
	for n < 10 {
		ev := st.mustNext(t)
		if ev.Name == "heartbeat" {
			require.Equal(t, last, ev.ID, "a heartbeat during the recovery repeats the last id sent")
			heartbeats++
			continue
		}
		if m := msg(t, ev); strings.Contains(m, "directory--") {
			dir = m
		}
		last = ev.ID
		n++
	}
	assert.Equal(t, "1767225600000-0 create init directory--8cdc9b17-880f-566c-a1ba-eb9a04063df7", dir,
		"updated after the listing: sent as it is now, its id after the recover date")
	assert.Greater(t, heartbeats, 3, "heartbeats fire during a slow recovery")
}

// TestHeartbeats: the heartbeat is a timer from the connection's open; it
// carries the start id until something is read, then the last id sent or
// the last batch's, and "<now>-0" when the reader found nothing new within
// its batch time (redis.ts processStreamResult); none while no id is known.
func TestHeartbeats(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)
	clock := func() time.Time { return now }
	t.Run("live from now: nothing until the reader's first empty batch", func(t *testing.T) {
		s := newServer(t, Options{HeartbeatInterval: 10 * time.Millisecond, BatchTime: 200 * time.Millisecond, Clock: clock})
		st := openStream(t, s, "/stream/live", nil)
		info := st.connected(t)
		assert.Nil(t, info["lastEventId"])
		assert.EqualValues(t, 0, info["streamSize"])
		opened := time.Now()
		hb := st.mustNext(t)
		assert.GreaterOrEqual(t, time.Since(opened), 150*time.Millisecond, "no heartbeat before an id is known")
		assert.Equal(t, sseEvent{ID: strconv.FormatInt(now.UnixMilli(), 10) + "-0", HasID: true, Name: "heartbeat", Data: `"2026-01-02T03:04:05.678Z"`}, hb)
	})
	t.Run("a start point is the heartbeat id until the reader hands over", func(t *testing.T) {
		s := newServer(t, Options{HeartbeatInterval: 10 * time.Millisecond, BatchTime: time.Hour, Clock: clock})
		st := openStream(t, s, "/stream/live?from=1700000000000-3", nil)
		st.connected(t)
		assert.Equal(t, sseEvent{ID: "1700000000000-3", HasID: true, Name: "heartbeat", Data: `"2023-11-14T22:13:20.000Z"`}, st.mustNext(t))
	})
	t.Run("tailing with nothing new: <now>-0", func(t *testing.T) {
		s := sampleServer(t, Options{HeartbeatInterval: 10 * time.Millisecond, BatchTime: 30 * time.Millisecond, Clock: clock})
		st := openStream(t, s, "/stream?from="+sampleIDs[9], nil)
		st.connected(t)
		assert.Equal(t, sampleIDs[10], st.collect(t, 1, sampleIDs[9])[0][:len(sampleIDs[10])])
		for {
			hb := st.mustNext(t)
			require.Equal(t, "heartbeat", hb.Name)
			if hb.ID != sampleIDs[10] {
				assert.Equal(t, strconv.FormatInt(now.UnixMilli(), 10)+"-0", hb.ID)
				break
			}
		}
	})
}

// TestTrim: a trimmed history starts later; a resume before its start
// reads from its first entry, and recovery still finds every object.
func TestTrim(t *testing.T) {
	s := sampleServer(t, Options{HeartbeatInterval: time.Hour})
	s.Trim(3)
	st := openStream(t, s, "/stream?from=0", nil)
	info := st.connected(t)
	assert.Equal(t, sampleIDs[8], info["firstEventId"])
	assert.EqualValues(t, 3, info["streamSize"])
	assert.Equal(t, sampleIDs[8:11], groups(st.collect(t, 3, "0-0")))
	st2 := openStream(t, s, "/stream/live?from="+sampleIDs[2], nil)
	st2.connected(t)
	assert.Equal(t, sampleIDs[8], st2.mustNext(t).ID)
	st3 := openStream(t, s, "/stream/live?from=0&no-dependencies=true&recover=2025-11-14T09:06:00.000Z", nil)
	st3.connected(t)
	got := st3.collect(t, 11, "0-0")
	assert.Contains(t, got, "1763110800000-0 create init indicator--4099edd7-1efd-54aa-9736-7bcd7219b78b", "trimming keeps the database")
	assert.Equal(t, sampleIDs[9]+" delete - indicator--86d9fae0-300e-54a8-9b7e-041e303406ad", got[10])
	// Trimming while a connection reads: it continues at the new start.
	s.Trim(0)
	assert.Empty(t, s.History())
	s.Append(Event{ID: s.NextID(), Name: "create", Data: Envelope("create", map[string]any{"id": "indicator--00000000-0000-4000-8000-000000000009", "type": "indicator", "name": "after trim"}, nil)})
	assert.Contains(t, msg(t, st.mustNext(t)), "indicator--00000000-0000-4000-8000-000000000009")
}

func TestStreamLiveFromNowAndAppend(t *testing.T) {
	s := newServer(t, Options{Events: sampleEvents(t), HeartbeatInterval: time.Hour})
	st := openStream(t, s, "/stream/live?no-dependencies=true", nil)
	st.connected(t)
	id := s.NextID()
	k, ok := parseID(id)
	require.True(t, ok)
	last, _ := parseID(sampleIDs[10])
	require.True(t, k.after(last))
	stix := map[string]any{"id": "indicator--00000000-0000-4000-8000-000000000001", "type": "indicator", "name": "new", "pattern": "[ipv4-addr:value = '10.0.0.1']", "pattern_type": "stix"}
	s.Append(Event{ID: id, Name: "create", Data: Envelope("create", stix, nil)})
	ev := st.mustNext(t)
	assert.Equal(t, id, ev.ID)
	assert.Equal(t, "create", ev.Name)
	assert.Contains(t, ev.Data, "creates a Indicator `new`")
	// Events without id and with any name are passed through.
	s.Append(Event{Name: "error", Data: `{"stream":"live","message":"boom"}`})
	ev = st.mustNext(t)
	assert.Equal(t, sseEvent{Name: "error", Data: `{"stream":"live","message":"boom"}`}, ev)
	// Multi-line data becomes several data lines.
	s.Append(Event{ID: s.NextID(), Name: "weird", Data: "a\nb"})
	ev = st.mustNext(t)
	assert.Equal(t, "a\nb", ev.Data)
	reqs := s.StreamRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "true", reqs[0].NoDependencies)
	assert.True(t, reqs[0].NoDeps)
	assert.Empty(t, reqs[0].StartID)
}

func TestDropConnections(t *testing.T) {
	s := newServer(t, Options{Events: sampleEvents(t), HeartbeatInterval: time.Hour})
	a := openStream(t, s, "/stream/live?from=0", nil)
	b := openStream(t, s, "/stream", nil)
	a.connected(t)
	b.connected(t)
	waitFor(t, "2 open streams", func() bool { return s.OpenStreams() == 2 })
	s.DropConnections()
	assert.True(t, errors.Is(a.ended(t), io.ErrUnexpectedEOF))
	assert.True(t, errors.Is(b.ended(t), io.ErrUnexpectedEOF))
	waitFor(t, "no open stream", func() bool { return s.OpenStreams() == 0 })
	// New connections work.
	c := openStream(t, s, "/stream/live?from="+sampleIDs[8], nil)
	c.connected(t)
	assert.Equal(t, sampleIDs[9], c.mustNext(t).ID)
}

func TestClientDisconnect(t *testing.T) {
	s := newServer(t, Options{Events: sampleEvents(t), HeartbeatInterval: time.Hour, Schema: "testdata/relay.schema.graphql"})
	st := openStream(t, s, "/stream/live", nil)
	st.connected(t)
	waitFor(t, "1 open stream", func() bool { return s.OpenStreams() == 1 })
	st.resp.Body.Close()
	waitFor(t, "no open stream", func() bool { return s.OpenStreams() == 0 })
}

func TestDropAfter(t *testing.T) {
	s := sampleServer(t, Options{HeartbeatInterval: time.Hour})
	for _, n := range []int{0, 2, 3} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s.DropAfter(n)
			st := openStream(t, s, "/stream/live?from=0", nil)
			st.connected(t)
			var got []string
			for {
				ev, ok := st.next(t)
				if !ok {
					break
				}
				got = append(got, ev.ID)
			}
			// Dependencies count: the cut falls inside the first group.
			require.Len(t, got, n)
			for _, id := range got {
				assert.Equal(t, sampleIDs[0], id)
			}
			assert.True(t, errors.Is(st.err, io.ErrUnexpectedEOF), "%v", st.err)
			// Only the next connection is dropped.
			st2 := openStream(t, s, "/stream/live?from="+sampleIDs[8], nil)
			st2.connected(t)
			assert.Equal(t, sampleIDs[9], st2.mustNext(t).ID)
		})
	}
}

func TestSetFailure(t *testing.T) {
	s := newServer(t, Options{Events: sampleEvents(t), StreamIDs: []string{"s1"}})
	cases := []struct {
		status       int
		reason       string
		times        int
		wantStatuses []string
	}{
		{410, "", 1, []string{"410 This live stream is stopped"}},
		{500, "", 2, []string{"500 Error in stream s1: simulated failure", "500 Error in stream s1: simulated failure"}},
		{401, "Token expired", 1, []string{"401 Token expired"}},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			s.SetFailure(tc.status, tc.reason, tc.times)
			for _, want := range tc.wantStatuses {
				resp := get(t, s.URL()+"/stream/s1?from=0", testToken, nil)
				assert.Equal(t, want, resp.Status)
			}
			st := openStream(t, s, "/stream/s1?from=0", nil)
			st.connected(t)
			assert.Equal(t, sampleIDs[0], st.mustNext(t).ID)
		})
	}
}

func TestCloseEndsStreams(t *testing.T) {
	s, err := New(Options{Events: sampleEvents(t), HeartbeatInterval: time.Hour})
	require.NoError(t, err)
	st := openStream(t, s, "/stream/live", nil)
	st.connected(t)
	start := time.Now()
	s.Close()
	assert.Error(t, st.ended(t))
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Zero(t, s.OpenStreams())
	s.Close() // idempotent
}

func TestStreamThroughput(t *testing.T) {
	n := 200000
	if testing.Short() {
		n = 20000
	}
	evs := make([]Event, n)
	base := sampleEvents(t)[1].Data
	for i := range evs {
		evs[i] = Event{ID: idKey{ms: 1700000000000 + uint64(i/4), seq: uint64(i % 4)}.String(), Name: "create", Data: base}
	}
	s := newServer(t, Options{Events: evs, HeartbeatInterval: time.Hour})
	resp := get(t, s.URL()+"/stream/live?from=0", testToken, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	start := time.Now()
	count := 0
	var last []byte
	for count < n {
		line, err := br.ReadSlice('\n')
		require.NoError(t, err)
		if bytes.HasPrefix(line, []byte("id: ")) {
			count++
			last = append(last[:0], line[4:len(line)-1]...)
		}
	}
	elapsed := time.Since(start)
	assert.Equal(t, evs[n-1].ID, string(last))
	t.Logf("%d events (%d bytes each) in %v: %.0f events/s", n, len(base), elapsed, float64(n)/elapsed.Seconds())
}

// gqlResult is a decoded GraphQL response.
type gqlResult struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func postGraphQL(t *testing.T, s *Server, token, opName, query string, vars map[string]any) (int, gqlResult, string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars, "operationName": opName})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient(t).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var res gqlResult
	require.NoError(t, json.Unmarshal(raw, &res), string(raw))
	return resp.StatusCode, res, string(raw)
}

func TestGraphQLValidation(t *testing.T) {
	s := newServer(t, Options{})
	cases := []struct {
		name, opName, query string
		vars                map[string]any
		token               string
		wantData            string // JSON of data, "" = no data
		wantErr             string
		wantCode            string
	}{
		{name: "valid about", query: `query About { about { version } }`, opName: "About",
			wantData: `{"about":{"version":"` + OpenCTIVersion + `"}}`},
		{name: "alias and typename, no operation name", query: `{ v: about { __typename version } }`,
			wantData: `{"v":{"__typename":"AppInfo","version":"` + OpenCTIVersion + `"}}`},
		{name: "me", query: `query { me { id name user_email capabilities { name } } }`,
			wantData: `{"me":{"id":"` + AdminUserID + `","name":"admin","user_email":"admin@opencti.io","capabilities":[{"name":"BYPASS"}]}}`},
		{name: "unknown field", query: `query { about { version nonexistent } }`,
			wantErr: `Cannot query field "nonexistent" on type "AppInfo".`, wantCode: "GRAPHQL_VALIDATION_FAILED"},
		{name: "unknown root field", query: `{ indicatorz(id: "x") { id } }`,
			wantErr: `Cannot query field "indicatorz" on type "Query". Did you mean "indicator" or "indicators"?`, wantCode: "GRAPHQL_VALIDATION_FAILED"},
		{name: "wrong argument type", query: `query($id: Int!) { indicator(id: $id) { id } }`, vars: map[string]any{"id": 1},
			wantErr: `Variable "$id" of type "Int!" used in position expecting type "String!".`, wantCode: "GRAPHQL_VALIDATION_FAILED"},
		{name: "parse error", query: `query { about { version }`,
			wantErr: `Expected Name, found <EOF>`, wantCode: "GRAPHQL_PARSE_FAILED"},
		{name: "missing variable", query: `query($id: String!) { indicator(id: $id) { id } }`,
			wantErr: `variable.id must be defined`, wantCode: "BAD_USER_INPUT"},
		{name: "bad enum in variables", opName: "Reg",
			query:   `mutation Reg($input: RegisterConnectorInput) { registerConnector(input: $input) { id } }`,
			vars:    map[string]any{"input": map[string]any{"id": "c", "name": "n", "type": "NOPE"}},
			wantErr: `variable.input.type NOPE is not a valid ConnectorType`, wantCode: "BAD_USER_INPUT"},
		{name: "unknown operation name", opName: "Other", query: `query About { about { version } }`,
			wantErr: `Unknown operation named "Other".`, wantCode: "OPERATION_RESOLUTION_FAILURE"},
		{name: "bad token", token: "nope", query: `query { me { id } }`,
			wantData: `{"me":null}`, wantErr: "You must be logged in to do this.", wantCode: "AUTH_REQUIRED"},
		{name: "no resolver", query: `query { settings { id } }`,
			wantData: `{"settings":null}`, wantErr: `octiserver: no resolver for operation "" or field "settings"`, wantCode: "INTERNAL_SERVER_ERROR"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token
			if token == "" {
				token = testToken
			}
			status, res, raw := postGraphQL(t, s, token, tc.opName, tc.query, tc.vars)
			assert.Equal(t, http.StatusOK, status, "OpenCTI answers 200 with errors")
			if tc.wantData != "" {
				var want map[string]any
				require.NoError(t, json.Unmarshal([]byte(tc.wantData), &want))
				assert.Equal(t, want, res.Data, raw)
			} else {
				assert.Nil(t, res.Data, raw)
			}
			if tc.wantErr == "" {
				assert.Empty(t, res.Errors, raw)
			} else {
				require.NotEmpty(t, res.Errors, raw)
				assert.Equal(t, tc.wantErr, res.Errors[0].Message)
				assert.Equal(t, tc.wantCode, res.Errors[0].Extensions["code"])
			}
			reqs := s.GraphQLRequests()
			require.Len(t, reqs, i+1)
			rec := reqs[i]
			assert.Equal(t, tc.query, rec.Query)
			assert.Equal(t, tc.opName, rec.OperationName)
			assert.Equal(t, token == testToken, rec.AuthOK)
			if tc.wantCode == "GRAPHQL_VALIDATION_FAILED" || tc.wantCode == "GRAPHQL_PARSE_FAILED" || tc.wantCode == "BAD_USER_INPUT" || tc.wantCode == "OPERATION_RESOLUTION_FAILURE" {
				assert.Equal(t, []string{tc.wantErr}, rec.ValidationErrors)
			} else {
				assert.Empty(t, rec.ValidationErrors)
			}
		})
	}
	assert.Empty(t, ValidateQuery(`query { about { version } }`))
	assert.Equal(t, []string{`Cannot query field "zzqqxx" on type "Query".`}, ValidateQuery(`{ zzqqxx }`))
}

const (
	registerMutation = `mutation RegisterConnector($input: RegisterConnectorInput) {
  registerConnector(input: $input) {
    id
    connector_state
    config { connection { host vhost use_ssl port user pass } listen listen_exchange push push_exchange push_routing }
    connector_user_id
  }
}`
	pingMutation = `mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput) {
  pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) { id connector_state connector_info { queue_threshold } }
}`
)

func TestGraphQLConnectorRoundTrip(t *testing.T) {
	s := newServer(t, Options{})
	const id = "6b5e2c8a-3e0d-4a5e-9b1e-2f0d7c3a9e11"
	input := map[string]any{"id": id, "name": "openctibeat", "type": "STREAM", "scope": []string{"elastic"}, "auto": false, "only_contextual": false}
	register := func() map[string]any {
		_, res, raw := postGraphQL(t, s, testToken, "RegisterConnector", registerMutation, map[string]any{"input": input})
		require.Empty(t, res.Errors, raw)
		return res.Data["registerConnector"].(map[string]any)
	}
	info := map[string]any{"run_and_terminate": false, "buffering": false, "queue_threshold": 500, "queue_messages_size": 0}
	ping := func(state any) (any, gqlResult) {
		vars := map[string]any{"id": id, "state": state, "connectorInfo": info}
		_, res, _ := postGraphQL(t, s, testToken, "PingConnector", pingMutation, vars)
		if res.Data["pingConnector"] == nil {
			return nil, res
		}
		return res.Data["pingConnector"].(map[string]any)["connector_state"], res
	}

	// Ping before registration fails like OpenCTI.
	got, res := ping(`{"start_from":"1-0"}`)
	assert.Nil(t, got)
	require.Len(t, res.Errors, 1)
	assert.Equal(t, "No connector found with the specified ID", res.Errors[0].Message)

	c := register()
	assert.Equal(t, []string{"config", "connector_state", "connector_user_id", "id"}, keys(c), "only the selected fields")
	assert.Nil(t, c["connector_state"])
	assert.Equal(t, id, c["id"])
	assert.Equal(t, "push_"+id, c["config"].(map[string]any)["push"])

	state1 := `{"start_from":"1763111100000-0","recover_until":null}`
	got, _ = ping(state1)
	assert.Equal(t, state1, got)
	st, ok := s.ConnectorState(id)
	assert.True(t, ok)
	assert.Equal(t, state1, st)
	assert.Equal(t, state1, register()["connector_state"], "registration returns the saved state")

	// An operator resets the state: the next ping returns it and does not
	// save the connector's; the one after saves again.
	s.SetConnectorState(id, `{"start_from":"0-0"}`)
	got, _ = ping(state1)
	assert.Equal(t, `{"start_from":"0-0"}`, got)
	state2 := `{"start_from":"0-0","x":1}`
	got, _ = ping(state2)
	assert.Equal(t, state2, got)

	// Recorded with the real argument types.
	reqs := s.GraphQLRequests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, "mutation", last.OperationType)
	assert.Equal(t, []string{"pingConnector"}, last.Fields)
	assert.Equal(t, state2, last.Variables["state"])
	assert.Empty(t, last.ValidationErrors)

	// ConnectorInfoInput's fields are required.
	_, res, _ = postGraphQL(t, s, testToken, "PingConnector", pingMutation,
		map[string]any{"id": id, "connectorInfo": map[string]any{"buffering": false}})
	require.NotEmpty(t, res.Errors)
	assert.Equal(t, "BAD_USER_INPUT", res.Errors[0].Extensions["code"])

	// Inline literals work too.
	_, res, raw := postGraphQL(t, s, testToken, "", `mutation { p: pingConnector(id: "`+id+`", state: "inline") { connector_state } }`, nil)
	require.Empty(t, res.Errors, raw)
	assert.Equal(t, map[string]any{"p": map[string]any{"connector_state": "inline"}}, res.Data)

	// Pre-seeded state for a connector not registered yet.
	s.SetConnectorState("other", `{"start_from":"5-0"}`)
	input["id"] = "other"
	assert.Equal(t, `{"start_from":"5-0"}`, register()["connector_state"])
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestGraphQLCustomResolvers(t *testing.T) {
	s := newServer(t, Options{})
	s.HandleGraphQL("GetIndicator", func(vars map[string]any) (any, []string) {
		return map[string]any{"indicator": map[string]any{
			"id": vars["id"], "name": "www.xolod-teplo.ru", "pattern": "[domain-name:value = 'www.xolod-teplo.ru']",
			"x_opencti_score": 50, "not_in_schema": true,
		}}, nil
	})
	query := `query GetIndicator($id: String!) { ind: indicator(id: $id) { id name __typename ...F } } fragment F on Indicator { x_opencti_score }`
	_, res, raw := postGraphQL(t, s, testToken, "GetIndicator", query, map[string]any{"id": "indicator--86d9fae0-300e-54a8-9b7e-041e303406ad"})
	require.Empty(t, res.Errors, raw)
	assert.JSONEq(t, `{"data":{"ind":{"id":"indicator--86d9fae0-300e-54a8-9b7e-041e303406ad","name":"www.xolod-teplo.ru","__typename":"Indicator","x_opencti_score":50}}}`, raw)
	assert.True(t, strings.Index(raw, `"id"`) < strings.Index(raw, `"name"`), "selection order kept: %s", raw)

	// By root field name, with the arguments.
	var gotFirst any
	s.HandleGraphQLCall("indicators", func(c GraphQLCall) (any, []string) {
		f, _ := c.Field("indicators")
		gotFirst = f.Args["first"]
		return map[string]any{f.Alias: map[string]any{
			"edges":    []any{map[string]any{"node": map[string]any{"id": "a", "name": "x"}}},
			"pageInfo": map[string]any{"hasNextPage": false, "endCursor": "c1"},
		}}, []string{"partial failure"}
	})
	_, res, raw = postGraphQL(t, s, testToken, "", `{ indicators(first: 2) { edges { node { id } } pageInfo { hasNextPage } } }`, nil)
	assert.EqualValues(t, 2, gotFirst)
	assert.JSONEq(t, `{"errors":[{"message":"partial failure","extensions":{"code":"INTERNAL_SERVER_ERROR"}}],"data":{"indicators":{"edges":[{"node":{"id":"a"}}],"pageInfo":{"hasNextPage":false}}}}`, raw)

	// Overriding a default resolver.
	s.HandleGraphQL("about", func(map[string]any) (any, []string) {
		return map[string]any{"about": map[string]any{"version": "6.0.0"}}, nil
	})
	_, res, _ = postGraphQL(t, s, testToken, "", `{ about { version } }`, nil)
	assert.Equal(t, "6.0.0", res.Data["about"].(map[string]any)["version"])
	s.HandleGraphQL("about", nil)
	_, res, _ = postGraphQL(t, s, testToken, "", `{ about { version } }`, nil)
	assert.Nil(t, res.Data["about"])
}

func TestGraphQLBadRequest(t *testing.T) {
	s := newServer(t, Options{})
	resp, err := httpClient(t).Post(s.URL()+"/graphql", "application/json", strings.NewReader(`{not json`))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	reqs := s.GraphQLRequests()
	require.Len(t, reqs, 1)
	assert.NotEmpty(t, reqs[0].ValidationErrors)

	// GET works for queries.
	resp2 := get(t, s.URL()+"/graphql?query="+url.QueryEscape(`{ about { version } }`), testToken, nil)
	b, _ := io.ReadAll(resp2.Body)
	assert.JSONEq(t, `{"data":{"about":{"version":"`+OpenCTIVersion+`"}}}`, string(b))
}

func TestFixtures(t *testing.T) {
	evs := sampleEvents(t)
	kinds := map[string]int{}
	for i, e := range evs {
		assert.Equal(t, sampleIDs[i], e.ID)
		kinds[e.Name]++
		var env struct {
			Version string         `json:"version"`
			Type    string         `json:"type"`
			Scope   string         `json:"scope"`
			Message string         `json:"message"`
			Origin  map[string]any `json:"origin"`
			Data    map[string]any `json:"data"`
			EventID string         `json:"event_id"`
			Context map[string]any `json:"context"`
		}
		require.NoError(t, json.Unmarshal([]byte(e.Data), &env))
		assert.Equal(t, "4", env.Version)
		assert.Equal(t, e.Name, env.Type)
		assert.Equal(t, "external", env.Scope)
		assert.NotEmpty(t, env.Message)
		assert.NotEmpty(t, env.EventID)
		assert.Contains(t, env.Data["extensions"], octiExtension)
		switch e.Name {
		case "update":
			assert.NotEmpty(t, env.Context["patch"])
			assert.NotEmpty(t, env.Context["reverse_patch"])
			assert.Equal(t, "replaces `80` in `score`", env.Message)
		case "merge":
			assert.Len(t, env.Context["sources"], 1)
		}
	}
	assert.Equal(t, map[string]int{"create": 8, "update": 1, "merge": 1, "delete": 1}, kinds)

	// WriteEvents / ReadEvents round trip, and data given as a JSON value.
	var buf bytes.Buffer
	require.NoError(t, WriteEvents(&buf, evs))
	again, err := ReadEvents(&buf)
	require.NoError(t, err)
	assert.Equal(t, evs, again)
	got, err := ReadEvents(strings.NewReader("# comment\n\n{\"id\":\"1-0\",\"event\":\"create\",\"data\":{\"a\": 1}}\n{\"event\":\"heartbeat\",\"data\":\"\\\"x\\\"\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, []Event{{ID: "1-0", Name: "create", Data: `{"a":1}`}, {Name: "heartbeat", Data: `"x"`}}, got)

	// Envelope escapes nothing HTML-ish and keeps OpenCTI's field order.
	data := Envelope("create", map[string]any{"id": "indicator--1", "type": "indicator", "name": "<a&b>", "modified": "2024-01-02T03:04:05.006Z"}, nil)
	assert.True(t, strings.HasPrefix(data, `{"version":"4","type":"create","scope":"external","message":"creates a Indicator `+"`<a&b>`"+`"`), data)
	assert.Contains(t, data, `"event_id":"1704164645006-0"`)
}

func BenchmarkStream(b *testing.B) {
	base := sampleEvents(b)[1].Data
	n := 100000
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{ID: idKey{ms: 1700000000000 + uint64(i)}.String(), Name: "create", Data: base}
	}
	s := newServer(b, Options{Events: evs, HeartbeatInterval: time.Hour})
	b.SetBytes(int64(n * (len(base) + 40)))
	b.ResetTimer()
	for b.Loop() {
		resp := get(b, s.URL()+"/stream/live?from=0", testToken, nil)
		br := bufio.NewReaderSize(resp.Body, 1<<20)
		count := 0
		for count < n {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if bytes.HasPrefix(line, []byte("id: ")) {
				count++
			}
		}
		resp.Body.Close()
	}
}
