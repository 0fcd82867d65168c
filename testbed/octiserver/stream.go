package octiserver

// The live stream, as OpenCTI streams it. Each behaviour below follows the
// platform's source, read with the search tool in OpenCTI-Platform/opencti:
//
//   - opencti-platform/opencti-graphql/src/graphql/sseMiddleware.js (at
//     commit 7af5740c02381bf3e92cb766a00d68ff0eeea0d8): createSseChannel,
//     liveStreamHandler, genericStreamHandler, resolveAndPublishDependencies,
//     resolveAndPublishMissingRefs, resolveMissingReferences,
//     convertParameterToStreamId;
//   - opencti-platform/opencti-graphql/src/database/redis.ts:
//     createStreamProcessor, processStreamResult, fetchStreamInfo;
//   - opencti-platform/opencti-graphql/src/utils/filtering/filtering-resolution.ts:
//     convertFiltersToQueryOptions (the recovery's listing).
//
// What a consumer must know from them, and what this server does:
//
//   - Heartbeat (createSseChannel): a setInterval started when the
//     connection opens, before any recovery, firing every heartbeat period
//     whatever else is being sent. Each tick sends "id: <lastEventId>",
//     "event: heartbeat", data the ISO date of that id's milliseconds, and
//     nothing while lastEventId is unset. lastEventId starts as the start
//     id ("from"/Last-Event-ID as a stream id) and is set by every message
//     sent with an id (a recovered object's synthetic id, a dependency's
//     id) and after every batch the Redis reader hands over
//     (setLastEventId). A heartbeat therefore repeats the id of the last
//     message sent, which may belong to a group still being sent, and a
//     heartbeat during a recovery does not mean the recovery ended.
//   - The Redis reader (createStreamProcessor): XREAD COUNT 100 BLOCK 5000
//     strictly after its cursor. Each batch's events of scope "external"
//     are handled, then lastEventId becomes the last of them; when a read
//     returns nothing within 5 s, or only internal events,
//     processStreamResult passes "<Date.now()>-0" instead: a tailing
//     connection with nothing new sends heartbeats carrying the current
//     time as an id, which is not the id of any event (and, taken from the
//     platform's clock rather than Redis's, not a safe resume point).
//     Deviation: after a batch of only internal events the platform also
//     moves its own cursor to "<now>-0"; with Redis's ids that skips at most
//     what was added in the same instant, but this server's histories use
//     ids from fixed dates, so its cursor stays at the last event read.
//   - Dependencies (live streams /stream/{id}, not the raw /stream): before
//     a create, update or merge the platform sends the objects the event's
//     object refers to (every *_ref/*_refs, resolved recursively, the
//     deepest first) that this connection has not sent yet, then (unless
//     no-dependencies=true) every core relationship and sighting of the
//     object not sent yet, each preceded by its own missing refs, all as
//     "create" events with origin {referer: "dependencies"}, no type or
//     scope, and the same id as the event itself; the event comes last.
//     Note: the refs are sent even with no-dependencies=true; that option
//     only leaves out the core relationships. A relationship or sighting
//     whose ends cannot be resolved (not in the database, not sent before)
//     is not sent at all. "Sent before" is a per-connection LRU cache (5,000
//     entries, by STIX id), so a new connection sends dependencies again.
//     Deviation: resolveMissingReferences recurses without a guard and
//     would not end on a cycle of references; this server stops at
//     objects already on the path.
//   - Recovery (from + recover, live streams only, when the recover date is
//     after the start date): before tailing, the platform lists the objects
//     whose updated_at is within [start, recover] (gte/lte) by updated_at
//     then internal id, by pages; for each page it drops the objects this
//     connection sent already, loads the others as they are now (an ids
//     query without sort, so a page comes back in the engine's order: here,
//     by internal id), and sends each, after its dependencies, as "create"
//     with origin {referer: "init"} and the synthetic id "<updated_at ms>-0"
//     of the object as loaded. Many objects may share one synthetic id, ids
//     are not monotonic in the order sent, and an object updated between
//     the listing of its page and its load carries an id after the recover
//     date. Then the Redis reader starts strictly after "<recover ms>-0".
//     Nothing marks the end of the recovery. Objects updated after the
//     listing began are left to the stream (their new updated_at is after
//     the recover date, so later pages do not list them).
//   - A resume ("from", "Last-Event-ID") is strictly after the id given;
//     an id older than the history's first entry reads from that entry.
//   - The "delay" query parameter (or "event-delay" header), in ms, is
//     waited after each missing ref sent, each page of core relationships,
//     each recovery page and each Redis batch (channel.delay); Options.Delay
//     is its default, to make a slow platform.

import (
	"bufio"
	"container/list"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// idKey is a parsed Redis stream id.
type idKey struct{ ms, seq uint64 }

func (k idKey) after(o idKey) bool {
	return k.ms > o.ms || (k.ms == o.ms && k.seq > o.seq)
}

func (k idKey) String() string {
	return strconv.FormatUint(k.ms, 10) + "-" + strconv.FormatUint(k.seq, 10)
}

// parseID parses "<ms>-<seq>".
func parseID(id string) (idKey, bool) {
	i := strings.IndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return idKey{}, false
	}
	ms, err1 := strconv.ParseUint(id[:i], 10, 64)
	seq, err2 := strconv.ParseUint(id[i+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return idKey{}, false
	}
	return idKey{ms, seq}, true
}

const (
	flagInternal  = 1 << iota // envelope scope "internal": never streamed
	flagInferred              // STIX object is_inferred: only with with-inferences=true
	flagMultiline             // Data holds newlines
	flagDelete                // a delete event
)

type storedEvent struct {
	Event
	key   idKey // own id, or the id of the preceding event for events without a valid id
	flags uint8
	data  *dataEvent // create/update/delete/merge with a STIX object; nil otherwise
}

var dataEvents = map[string]bool{"create": true, "update": true, "delete": true, "merge": true}

func (s *Server) appendLocked(evs []Event) {
	if cap(s.history)-len(s.history) < len(evs) {
		nh := make([]storedEvent, len(s.history), 2*len(s.history)+len(evs))
		copy(nh, s.history)
		s.history = nh
	}
	for _, e := range evs {
		se := storedEvent{Event: e, key: s.lastKey}
		if k, ok := parseID(e.ID); ok {
			se.key = k
			if k.after(s.lastKey) || s.idCount == 0 {
				s.lastKey = k
			}
			if s.idCount == 0 {
				s.firstID = e.ID
			}
			s.lastID = e.ID
			s.idCount++
		}
		if dataEvents[e.Name] {
			if d, ok := parseDataEvent(e.Data); ok {
				se.data = d
				if d.internal {
					se.flags |= flagInternal
				}
				if d.obj.inferred {
					se.flags |= flagInferred
				}
				if !d.internal {
					if d.obj.updated < 0 {
						d.obj.updated = int64(se.key.ms)
					}
					s.db.apply(e.Name, d.obj, d.sources)
				}
			}
		}
		if e.Name == "delete" {
			se.flags |= flagDelete
		}
		if strings.ContainsAny(e.Data, "\r\n") {
			se.flags |= flagMultiline
		}
		s.history = append(s.history, se)
	}
}

// startPoint is a parsed "from" or "recover" option.
type startPoint struct {
	set bool
	key idKey
	id  string // as a stream id
}

// parseStart follows OpenCTI's convertParameterToStreamId: "0" and "0-0"
// are the beginning; a value with exactly one "-" is an event id; anything
// else is tried as a date and becomes "<ms>-0". Unparseable: not set.
func parseStart(p string) startPoint {
	if p == "" {
		return startPoint{}
	}
	if p == "0" || p == "0-0" {
		return startPoint{set: true, id: "0-0"}
	}
	if strings.Count(p, "-") == 1 {
		if k, ok := parseID(p); ok {
			return startPoint{set: true, key: k, id: p}
		}
		return startPoint{}
	}
	if t, ok := parseDate(p); ok && t.UnixMilli() >= 0 {
		k := idKey{ms: uint64(t.UnixMilli())}
		return startPoint{set: true, key: k, id: k.String()}
	}
	return startPoint{}
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
	time.RFC1123,
	time.RFC1123Z,
}

func parseDate(p string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, p); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

type streamConn struct {
	conn   net.Conn
	once   sync.Once
	killed chan struct{}
}

func (c *streamConn) kill() {
	c.once.Do(func() {
		close(c.killed)
		if c.conn != nil {
			_ = c.conn.Close()
		}
	})
}

const (
	msgNotAuthenticated = "You are not authenticated, please check your credentials"
	msgNotAuthorized    = "You are not authorized, please check your credentials"
	msgStopped          = "This live stream is stopped"
	msgRecoverNoStart   = "Recovery mode is only possible with a start date."
)

func defaultReason(status int, raw bool, streamID string) string {
	switch status {
	case http.StatusUnauthorized:
		return msgNotAuthenticated
	case http.StatusGone:
		return msgStopped
	case http.StatusInternalServerError:
		if raw {
			return "Error in stream: simulated failure"
		}
		return "Error in stream " + streamID + ": simulated failure"
	}
	return http.StatusText(status)
}

// Redis reader constants (redis.ts): MAX_RANGE_MESSAGES, STREAM_BATCH_TIME.
const (
	readCount = 100
)

// streamOpts are a connection's effective options.
type streamOpts struct {
	raw            bool
	withInferences bool
	listenDeletes  bool
	noDeps         bool
}

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	raw := r.URL.Path == "/stream"
	streamID := ""
	if !raw {
		streamID = strings.TrimPrefix(r.URL.Path, "/stream/")
		if streamID == "" || strings.Contains(streamID, "/") {
			http.NotFound(w, r)
			return
		}
	}
	q := r.URL.Query()
	first := func(name string) string {
		if v := q[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	// opt reads an option like OpenCTI: query parameter, then headers.
	opt := func(name string, headers ...string) string {
		if v := first(name); v != "" {
			return v
		}
		for _, h := range headers {
			if v := r.Header.Get(h); v != "" {
				return v
			}
		}
		return ""
	}
	rec := StreamRequest{
		Path:           r.URL.Path,
		StreamID:       streamID,
		Time:           s.clock(),
		AuthOK:         s.authOK(r),
		LastEventID:    r.Header.Get("Last-Event-ID"),
		From:           first("from"),
		Recover:        first("recover"),
		ListenDelete:   first("listen-delete"),
		NoDependencies: first("no-dependencies"),
		WithInferences: first("with-inferences"),
		Query:          q,
		Header:         r.Header.Clone(),
	}
	rec.StartParam = opt("from", "From", "Last-Event-ID")
	start := parseStart(rec.StartParam)
	rec.StartID = start.id
	var recov startPoint
	if !raw { // the raw stream ignores these options
		recov = parseStart(opt("recover", "Recover", "Recover-Date"))
		rec.ListenDeletes = opt("listen-delete", "Listen-Delete") != "false"
	} else {
		rec.ListenDeletes = true
	}
	rec.Inferences = opt("with-inferences", "With-Inferences") == "true"
	rec.NoDeps = opt("no-dependencies", "No-Dependencies") == "true" || opt("no-relationships", "No-Relationships") == "true"
	o := streamOpts{raw: raw, withInferences: rec.Inferences || raw, listenDeletes: rec.ListenDeletes, noDeps: rec.NoDeps}
	delay := s.opts.Delay
	if d := opt("delay", "Event-Delay"); d != "" {
		if ms, err := strconv.Atoi(d); err == nil && ms >= 0 {
			delay = time.Duration(ms) * time.Millisecond
		}
	}

	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return
	default:
	}
	status, reason := 0, ""
	switch {
	case s.failure.times > 0:
		s.failure.times--
		status, reason = s.failure.status, s.failure.reason
		if reason == "" {
			reason = defaultReason(status, raw, streamID)
		}
	case !raw && s.stopped[streamID]:
		status, reason = http.StatusGone, msgStopped
	case !raw && streamID != "live" && !s.streamIDs[streamID]:
		status, reason = http.StatusUnauthorized, msgNotAuthorized
	case !rec.AuthOK:
		status, reason = http.StatusUnauthorized, msgNotAuthenticated
	case !raw && recov.set && !start.set:
		status, reason = http.StatusInternalServerError, "Error in stream "+streamID+": "+msgRecoverNoStart
	}
	if status != 0 {
		rec.Status, rec.StatusText = status, reason
		s.streamReqs = append(s.streamReqs, rec)
		s.mu.Unlock()
		writeStatus(w, status, reason)
		return
	}

	// The stream opens. pos is the absolute index (base included) of the
	// next history entry the Redis reader hands over.
	end := s.base + len(s.history)
	pos := end // "$": only new events
	switch {
	case !start.set:
	case start.id == "0-0":
		pos = s.base
	default:
		pos = s.base + searchAfter(s.history, start.key)
	}
	recoveryMode := recov.set && start.set && recov.key.ms > start.key.ms
	if recoveryMode {
		rec.RecoverID = recov.id
		pos = s.base + searchAfter(s.history, recov.key)
	}
	connected := s.connectedLocked()
	dropAfter := s.dropAfter
	s.dropAfter = -1
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	sc := &streamConn{conn: conn, killed: make(chan struct{})}
	s.conns[sc] = struct{}{}
	s.wg.Add(1)
	rec.Status, rec.StatusText = http.StatusOK, "OK"
	rec.ConnectionID = newUUID()
	reqIndex := len(s.streamReqs)
	s.streamReqs = append(s.streamReqs, rec)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		s.wg.Done()
	}()

	h := w.Header()
	h.Set("Connection", "keep-alive")
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(http.StatusOK)

	ch := &channel{
		srv: s, sc: sc, rc: http.NewResponseController(w), bw: bufio.NewWriterSize(w, 128<<10), req: reqIndex,
		last: start.id, dropAfter: dropAfter, delay: delay, ctxDone: r.Context().Done(),
		cache: newLRU(s.cacheSize),
	}
	// createSseChannel starts the heartbeat before anything is sent. It
	// must not write once the handler returned (net/http then finishes
	// the response).
	hbDone, hbExited := make(chan struct{}), make(chan struct{})
	defer func() {
		ch.mu.Lock()
		ch.dead = true
		ch.mu.Unlock()
		close(hbDone)
		<-hbExited
	}()
	go func() { defer close(hbExited); ch.heartbeats(s.heartbeat, hbDone) }()

	ch.send("", "connected", connected+rec.ConnectionID+`"}`, false)
	if dropAfter == 0 {
		ch.drop()
		return
	}
	ch.flush()
	if recoveryMode {
		n, ok := s.recoverObjects(ch, o, int64(start.key.ms), int64(recov.key.ms))
		s.mu.Lock()
		s.streamReqs[reqIndex].Recovered = n
		s.streamReqs[reqIndex].RecoveryDone = ok
		s.mu.Unlock()
		if !ok {
			return
		}
	}
	s.tail(ch, o, pos)
}

// searchAfter is the index of the first event positioned after k.
func searchAfter(hist []storedEvent, k idKey) int {
	return sort.Search(len(hist), func(i int) bool { return hist[i].key.after(k) })
}

// tail is the Redis reader of createStreamProcessor with the live (or the
// generic) stream's callback.
func (s *Server) tail(ch *channel, o streamOpts, pos int) {
	for {
		s.mu.RLock()
		if pos < s.base { // trimmed: XREAD continues at the first entry
			pos = s.base
		}
		rel := pos - s.base
		n := min(len(s.history)-rel, readCount)
		batch := s.history[rel : rel+n : rel+n]
		notify := s.notify
		s.mu.RUnlock()
		if len(batch) > 0 {
			last := ""
			for i := range batch {
				e := &batch[i]
				if e.flags&flagInternal != 0 {
					continue // processStreamResult keeps scope "external" only
				}
				if e.ID != "" {
					last = e.ID
				}
				if !s.handleEvent(ch, o, e) {
					return
				}
			}
			pos += len(batch)
			if last == "" {
				last = s.nowID()
			}
			ch.setLast(last)
			if !ch.flush() || !ch.wait() {
				return
			}
			continue
		}
		timer := time.NewTimer(s.batchTime)
		select {
		case <-notify:
			timer.Stop()
		case <-timer.C:
			// XREAD BLOCK returned nothing: the callback gets "<now>-0".
			ch.setLast(s.nowID())
			if !ch.wait() {
				return
			}
		case <-s.done:
			timer.Stop()
			return
		case <-ch.sc.killed:
			timer.Stop()
			return
		case <-ch.ctxDone:
			timer.Stop()
			return
		}
	}
}

func (s *Server) nowID() string {
	return idKey{ms: uint64(max(s.clock().UnixMilli(), 0))}.String()
}

// handleEvent sends one event of the history as the live stream handler
// (or, for the raw stream, the generic one) does; false when the
// connection ended.
func (s *Server) handleEvent(ch *channel, o streamOpts, e *storedEvent) bool {
	d := e.data
	if d == nil || !dataEvents[e.Name] {
		// Not a data event of the platform (tests put other names and
		// malformed data in the history): sent as it is.
		return ch.sendEvent(e)
	}
	if o.raw {
		return ch.sendEvent(e) // genericStreamHandler: every accessible event, no dependency
	}
	if d.version < 4 {
		return ch.alive() // "New stream support only v4+ events"
	}
	if d.obj.inferred && !o.withInferences {
		return ch.alive()
	}
	switch e.Name {
	case "delete":
		if !o.listenDeletes {
			return ch.alive()
		}
		ok := ch.sendEvent(e)
		ch.cache.set(d.obj.id)
		return ok
	default: // create, update (visible before and after: "just an update"), merge
		valid := s.publishDependencies(ch, o, e.ID, d.obj)
		if !ch.alive() {
			return false
		}
		if !valid {
			return true
		}
		ok := ch.sendEvent(e)
		ch.cache.set(d.obj.id)
		return ok
	}
}

// recoverObjects sends the current state of the objects updated within
// [startMs, recoverMs], as the recovery of liveStreamHandler does. It
// returns the number of objects sent and whether the connection is alive.
func (s *Server) recoverObjects(ch *channel, o streamOpts, startMs, recoverMs int64) (int, bool) {
	type listed struct {
		id      string
		iid     string
		updated int64
	}
	s.mu.RLock()
	var all []listed
	for _, obj := range s.db.objs {
		if obj.updated >= startMs && obj.updated <= recoverMs && (!obj.inferred || o.withInferences) {
			all = append(all, listed{obj.id, obj.internalID, obj.updated})
		}
	}
	s.mu.RUnlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].updated != all[j].updated {
			return all[i].updated < all[j].updated
		}
		return all[i].iid < all[j].iid
	})
	sent := 0
	next := 0
	for page := 0; next < len(all); page++ {
		// The page query: the next objects of the listing that are still
		// as listed (an object updated since has left the window).
		var ids []string
		s.mu.RLock()
		for next < len(all) && len(ids) < s.pageSize {
			l := all[next]
			next++
			if cur := s.db.get(l.id); cur != nil && cur.updated == l.updated {
				ids = append(ids, l.id)
			}
		}
		s.mu.RUnlock()
		if hook := s.opts.OnRecoveryPage; hook != nil {
			hook(page)
		}
		// Drop what this connection sent already, load the rest as it is
		// now, in the engine's order.
		var objs []*object
		s.mu.RLock()
		for _, id := range ids {
			if ch.cache.has(id) {
				continue
			}
			if cur := s.db.get(id); cur != nil {
				objs = append(objs, cur)
			}
		}
		s.mu.RUnlock()
		sort.Slice(objs, func(i, j int) bool { return objs[i].internalID < objs[j].internalID })
		for _, obj := range objs {
			eventID := idKey{ms: uint64(max(obj.updated, 0))}.String()
			valid := s.publishDependencies(ch, o, eventID, obj)
			if !ch.alive() {
				return sent, false
			}
			if valid && !ch.cache.has(obj.id) {
				if !ch.send(eventID, "create", createMessage(obj, "init"), true) {
					return sent, false
				}
				ch.cache.set(obj.id)
				sent++
			}
		}
		if !ch.flush() || !ch.wait() {
			return sent, false
		}
	}
	return sent, true
}

// publishDependencies is resolveAndPublishDependencies: the missing refs
// of obj, then (unless no-dependencies) its core relationships with their
// missing refs, all with eventID. It returns false when obj is a
// relationship or sighting whose ends cannot be resolved (the event is then
// not sent).
func (s *Server) publishDependencies(ch *channel, o streamOpts, eventID string, obj *object) bool {
	if !s.publishMissingRefs(ch, eventID, obj) {
		return false
	}
	if o.noDeps || !ch.alive() {
		return true
	}
	s.mu.RLock()
	rels := s.db.relationsOf(obj.id)
	s.mu.RUnlock()
	var missing []*object
	for _, r := range rels {
		if !ch.cache.has(r.id) {
			missing = append(missing, r)
		}
	}
	for _, r := range missing {
		if !ch.alive() {
			break
		}
		s.publishMissingRefs(ch, eventID, r) // its result is not checked by the platform
		if !ch.send(eventID, "create", createMessage(r, "dependencies"), true) {
			return true
		}
		ch.cache.set(r.id)
	}
	if len(rels) > 0 {
		ch.wait() // one page of relationships
	}
	return true
}

// publishMissingRefs is resolveAndPublishMissingRefs.
func (s *Server) publishMissingRefs(ch *channel, eventID string, obj *object) bool {
	s.mu.RLock()
	missing := s.resolveMissing(ch.cache, obj.refs, map[string]bool{obj.id: true})
	s.mu.RUnlock()
	if obj.isRel {
		has := func(id string) bool {
			if ch.cache.has(id) {
				return true
			}
			for _, m := range missing {
				if m.id == id || m.internalID == id {
					return true
				}
			}
			return false
		}
		if !has(obj.from) || !has(obj.to) {
			return false
		}
	}
	for _, m := range missing {
		if ch.cache.has(m.id) || !ch.alive() {
			continue
		}
		if !ch.send(eventID, "create", createMessage(m, "dependencies"), true) {
			return true
		}
		ch.cache.set(m.id)
		ch.wait()
	}
	return true
}

// resolveMissing is resolveMissingReferences: the objects of refs not in
// the cache, preceded by their own missing refs (recursively). path holds
// the objects being resolved above, against reference cycles. Call with
// s.mu held.
func (s *Server) resolveMissing(cache *lru, refs []string, path map[string]bool) []*object {
	var elems []*object
	seen := map[string]bool{}
	for _, id := range refs {
		if seen[id] || cache.has(id) {
			continue
		}
		seen[id] = true
		if obj := s.db.get(id); obj != nil {
			elems = append(elems, obj)
		}
	}
	if len(elems) == 0 {
		return nil
	}
	resolved := map[string]bool{}
	for _, e := range elems {
		resolved[e.id] = true
	}
	var parents []string
	for _, e := range elems {
		for _, ref := range e.refs {
			if !resolved[ref] && !path[ref] {
				parents = append(parents, ref)
			}
		}
	}
	if len(parents) == 0 {
		return elems
	}
	sub := make(map[string]bool, len(path)+len(elems))
	for k := range path {
		sub[k] = true
	}
	for k := range resolved {
		sub[k] = true
	}
	return append(s.resolveMissing(cache, parents, sub), elems...)
}

// createMessage is the data of a dependency or recovered object:
// {data, message, origin: {referer}, version} (no type, scope or event_id).
func createMessage(obj *object, referer string) string {
	msg := "creates a " + obj.meta.entityType() + " `" + obj.meta.representative() + "`"
	var b strings.Builder
	b.Grow(len(obj.raw) + len(msg) + 64)
	b.WriteString(`{"data":`)
	b.WriteString(obj.raw)
	b.WriteString(`,"message":`)
	b.Write(jsonString(msg))
	b.WriteString(`,"origin":{"referer":"`)
	b.WriteString(referer)
	b.WriteString(`"},"version":"4"}`)
	return b.String()
}

// channel is one connection's writer (createSseChannel): messages and
// heartbeats go through it, one at a time, in the order they are sent.
type channel struct {
	srv       *Server
	sc        *streamConn
	rc        *http.ResponseController
	ctxDone   <-chan struct{}
	delay     time.Duration
	cache     *lru // touched by the sending goroutine only
	dropAfter int
	req       int // index of the connection's StreamRequest

	mu   sync.Mutex
	bw   *bufio.Writer
	last string // lastEventId
	sent int    // data messages sent, for DropAfter
	dead bool
}

// alive tells whether the connection is still open (channel.connected()).
func (c *channel) alive() bool {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead {
		return false
	}
	select {
	case <-c.srv.done:
		return false
	case <-c.sc.killed:
		return false
	case <-c.ctxDone:
		return false
	default:
		return true
	}
}

func (c *channel) sendEvent(e *storedEvent) bool {
	return c.sendStored(e, e.ID != "" && e.Name != "connected")
}

// send writes one message; counted messages count for DropAfter. False
// when the connection is (now) dropped.
func (c *channel) send(id, name, data string, counted bool) bool {
	e := storedEvent{Event: Event{ID: id, Name: name, Data: data}}
	return c.sendStored(&e, counted)
}

func (c *channel) sendStored(e *storedEvent, counted bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false
	}
	writeEvent(c.bw, e)
	if e.ID != "" {
		c.last = e.ID
	}
	if counted {
		c.sent++
		if c.dropAfter >= 0 && c.sent >= c.dropAfter {
			c.dropLocked()
			return false
		}
	}
	return true
}

func (c *channel) setLast(id string) {
	c.mu.Lock()
	c.last = id
	c.mu.Unlock()
}

func (c *channel) flush() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *channel) flushLocked() bool {
	c.srv.mu.Lock()
	c.srv.streamReqs[c.req].Sent = c.sent
	c.srv.mu.Unlock()
	if c.dead {
		return false
	}
	if c.bw.Flush() != nil || c.rc.Flush() != nil {
		c.dead = true
		return false
	}
	return true
}

// drop flushes what was written and closes the connection abruptly.
func (c *channel) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
}

func (c *channel) dropLocked() {
	c.srv.mu.Lock()
	c.srv.streamReqs[c.req].Sent = c.sent
	c.srv.mu.Unlock()
	if !c.dead {
		_ = c.bw.Flush()
		_ = c.rc.Flush()
	}
	c.dead = true
	c.sc.kill()
}

// wait is the platform's wait(channel.delay); false when the connection
// ended meanwhile.
func (c *channel) wait() bool {
	if c.delay > 0 {
		t := time.NewTimer(c.delay)
		select {
		case <-t.C:
		case <-c.srv.done:
			t.Stop()
		case <-c.sc.killed:
			t.Stop()
		case <-c.ctxDone:
			t.Stop()
		}
	}
	return c.alive()
}

// heartbeats is createSseChannel's setInterval: from the connection's open,
// whatever is being sent.
func (c *channel) heartbeats(period time.Duration, done <-chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.heartbeat()
		case <-done:
			return
		case <-c.srv.done:
			return
		}
	}
}

func (c *channel) heartbeat() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.last == "" {
		return
	}
	var ms int64
	if k, ok := parseID(c.last); ok {
		ms = int64(k.ms)
	}
	writeEvent(c.bw, &storedEvent{Event: Event{ID: c.last, Name: "heartbeat", Data: `"` + isoMillis(ms) + `"`}})
	c.flushLocked()
}

// lru is the connection's cache of objects sent (lru-cache: has() does not
// refresh an entry; set() does).
type lru struct {
	max int
	ll  *list.List
	m   map[string]*list.Element
}

func newLRU(max int) *lru { return &lru{max: max, ll: list.New(), m: map[string]*list.Element{}} }

func (l *lru) has(k string) bool { _, ok := l.m[k]; return ok }

func (l *lru) set(k string) {
	if e, ok := l.m[k]; ok {
		l.ll.MoveToFront(e)
		return
	}
	l.m[k] = l.ll.PushFront(k)
	if l.ll.Len() > l.max {
		old := l.ll.Back()
		l.ll.Remove(old)
		delete(l.m, old.Value.(string))
	}
}

// connectedLocked is the data of the connected event, without its ending
// connectionId value and `"}`.
func (s *Server) connectedLocked() string {
	var b strings.Builder
	b.WriteString(`{"lastEventId":`)
	if s.idCount == 0 {
		b.WriteString(`null,"firstEventId":null,"firstEventDate":null,"lastEventDate":null,"streamSize":0`)
	} else {
		fk, _ := parseID(s.firstID)
		lk, _ := parseID(s.lastID)
		b.WriteString(strconv.Quote(s.lastID))
		b.WriteString(`,"firstEventId":`)
		b.WriteString(strconv.Quote(s.firstID))
		b.WriteString(`,"firstEventDate":"`)
		b.WriteString(isoMillis(int64(fk.ms)))
		b.WriteString(`","lastEventDate":"`)
		b.WriteString(isoMillis(int64(lk.ms)))
		b.WriteString(`","streamSize":`)
		b.WriteString(strconv.Itoa(s.idCount))
	}
	b.WriteString(`,"connectionId":"`)
	return b.String()
}

// writeEvent writes one SSE message, as OpenCTI frames it.
func writeEvent(bw *bufio.Writer, e *storedEvent) {
	if e.ID != "" {
		_, _ = bw.WriteString("id: ")
		_, _ = bw.WriteString(e.ID)
		_ = bw.WriteByte('\n')
	}
	if e.Name != "" {
		_, _ = bw.WriteString("event: ")
		_, _ = bw.WriteString(e.Name)
		_ = bw.WriteByte('\n')
	}
	if e.Data != "" {
		if e.flags&flagMultiline == 0 && !strings.ContainsAny(e.Data, "\r\n") {
			_, _ = bw.WriteString("data: ")
			_, _ = bw.WriteString(e.Data)
			_ = bw.WriteByte('\n')
		} else {
			for _, line := range strings.Split(strings.ReplaceAll(e.Data, "\r\n", "\n"), "\n") {
				_, _ = bw.WriteString("data: ")
				_, _ = bw.WriteString(strings.TrimSuffix(line, "\r"))
				_ = bw.WriteByte('\n')
			}
		}
	}
	_ = bw.WriteByte('\n')
}

// OpenCTI's STIX extension.
const octiExtension = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"

type stixMeta struct {
	ID               string `json:"id"`
	Type             string `json:"type"`
	Name             string `json:"name"`
	Value            string `json:"value"`
	Pattern          string `json:"pattern"`
	RelationshipType string `json:"relationship_type"`
	Modified         string `json:"modified"`
	Extensions       map[string]struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		UpdatedAt   string `json:"updated_at"`
		SourceValue string `json:"source_value"`
		TargetValue string `json:"target_value"`
		IsInferred  bool   `json:"is_inferred"`
	} `json:"extensions"`
}

func (m *stixMeta) entityType() string {
	if ext, ok := m.Extensions[octiExtension]; ok && ext.Type != "" {
		return ext.Type
	}
	return stixTypeToEntityType(m.Type)
}

func (m *stixMeta) representative() string {
	switch {
	case m.Name != "":
		return m.Name
	case m.Value != "":
		return m.Value
	case m.RelationshipType != "":
		ext := m.Extensions[octiExtension]
		if ext.SourceValue != "" || ext.TargetValue != "" {
			return ext.SourceValue + " " + m.RelationshipType + " " + ext.TargetValue
		}
		return m.RelationshipType
	case m.Pattern != "":
		return m.Pattern
	}
	return m.ID
}

// updatedAt is the OpenCTI updated_at, else modified; -1 if none parses.
func (m *stixMeta) updatedAt() int64 {
	if ext, ok := m.Extensions[octiExtension]; ok {
		if t, err := time.Parse(time.RFC3339Nano, ext.UpdatedAt); err == nil {
			return t.UnixMilli()
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, m.Modified); err == nil {
		return t.UnixMilli()
	}
	return -1
}

func stixTypeToEntityType(t string) string {
	parts := strings.Split(t, "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// jsonString encodes s as JSON without HTML escaping (like JSON.stringify).
func jsonString(s string) []byte {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return []byte(strings.TrimRight(buf.String(), "\n"))
}
