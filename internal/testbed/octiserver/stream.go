package octiserver

import (
	"bufio"
	"bytes"
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
			if jsonKeyIs(e.Data, `"scope"`, `"internal"`) {
				se.flags |= flagInternal
			}
			if jsonKeyIs(e.Data, `"is_inferred"`, `true`) {
				se.flags |= flagInferred
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

// jsonKeyIs reports whether data holds key, then a colon, then value
// (white space allowed around the colon). A cheap scan, not a parse.
func jsonKeyIs(data, key, value string) bool {
	for i := 0; i < len(data); {
		j := strings.Index(data[i:], key)
		if j < 0 {
			return false
		}
		k := i + j + len(key)
		for k < len(data) && isSpace(data[k]) {
			k++
		}
		if k < len(data) && data[k] == ':' {
			k++
			for k < len(data) && isSpace(data[k]) {
				k++
			}
			if strings.HasPrefix(data[k:], value) {
				return true
			}
		}
		i = i + j + len(key)
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

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

func isoMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// searchAfter is the index of the first event positioned after k.
func searchAfter(hist []storedEvent, k idKey) int {
	return sort.Search(len(hist), func(i int) bool { return hist[i].key.after(k) })
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
	withInferences := rec.Inferences || raw
	listenDeletes := rec.ListenDeletes

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

	// The stream opens.
	n := len(s.history)
	hist := s.history[:n:n]
	var pos int
	var cursor string
	switch {
	case !start.set: // "$": only new events
		pos, cursor = n, s.lastID
	case start.id == "0-0":
		pos, cursor = 0, start.id
	default:
		pos, cursor = searchAfter(hist, start.key), start.id
	}
	recoveryMode := recov.set && start.set && recov.key.ms > start.key.ms
	if recoveryMode {
		rec.RecoverID = recov.id
		pos, cursor = searchAfter(hist, recov.key), recov.id
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

	var recovered []storedEvent
	if recoveryMode {
		recovered = recoverState(hist, int64(start.key.ms), int64(recov.key.ms), withInferences)
		s.mu.Lock()
		s.streamReqs[reqIndex].Recovered = len(recovered)
		s.mu.Unlock()
	}

	h := w.Header()
	h.Set("Connection", "keep-alive")
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 128<<10)
	flush := func() bool {
		if bw.Flush() != nil {
			return false
		}
		return rc.Flush() == nil
	}

	writeEvent(bw, &storedEvent{Event: Event{Name: "connected", Data: connected + rec.ConnectionID + `"}`}})
	sent := 0
	// emit writes one event; false when the connection must be dropped.
	emit := func(e *storedEvent) bool {
		writeEvent(bw, e)
		sent++
		return dropAfter < 0 || sent < dropAfter
	}
	drop := func() {
		_ = flush()
		sc.kill()
	}
	if dropAfter == 0 {
		drop()
		return
	}
	for i := range recovered {
		if !emit(&recovered[i]) {
			drop()
			return
		}
	}
	if !flush() {
		return
	}

	timer := time.NewTimer(s.heartbeat)
	defer timer.Stop()
	for {
		s.mu.RLock()
		batch := s.history[pos:len(s.history):len(s.history)]
		notify := s.notify
		s.mu.RUnlock()
		if len(batch) > 0 {
			for i := range batch {
				e := &batch[i]
				skip := e.flags&flagInternal != 0 ||
					(e.flags&flagInferred != 0 && !withInferences) ||
					(e.flags&flagDelete != 0 && !listenDeletes)
				if e.ID != "" {
					cursor = e.ID
				}
				if !skip && !emit(e) {
					drop()
					return
				}
			}
			pos += len(batch)
			if !flush() {
				return
			}
			timer.Reset(s.heartbeat)
			select {
			case <-s.done:
				return
			case <-sc.killed:
				return
			default:
			}
			continue
		}
		select {
		case <-notify:
		case <-timer.C:
			id := cursor
			if id == "" {
				id = idKey{ms: uint64(max(s.clock().UnixMilli(), 0))}.String()
			}
			var ms int64
			if k, ok := parseID(id); ok {
				ms = int64(k.ms)
			} else {
				ms = s.clock().UnixMilli()
			}
			writeEvent(bw, &storedEvent{Event: Event{ID: id, Name: "heartbeat", Data: `"` + isoMillis(ms) + `"`}})
			if !flush() {
				return
			}
			timer.Reset(s.heartbeat)
		case <-s.done:
			return
		case <-sc.killed:
			return
		case <-r.Context().Done():
			return
		}
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
		if e.flags&flagMultiline == 0 {
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
		Type        string `json:"type"`
		UpdatedAt   string `json:"updated_at"`
		SourceValue string `json:"source_value"`
		TargetValue string `json:"target_value"`
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

type recoveredObject struct {
	raw     json.RawMessage
	meta    stixMeta
	updated int64
	order   int
}

// recoverState replays the current state of every object (latest version
// among create/update/merge, not deleted or merged away) whose updated_at
// is within [startMs, recoverMs], as OpenCTI's recovery does with a
// database query, as synthetic create events with id "<updated_at ms>-0"
// and data {data, message, origin:{referer:"init"}, version:"4"}, ordered
// by updated_at. Inferred objects are left out unless withInferences.
func recoverState(hist []storedEvent, startMs, recoverMs int64, withInferences bool) []storedEvent {
	state := map[string]*recoveredObject{}
	order := 0
	for i := range hist {
		e := &hist[i]
		if !dataEvents[e.Name] || e.flags&flagInternal != 0 {
			continue
		}
		var env struct {
			Data    json.RawMessage `json:"data"`
			Context struct {
				Sources []struct {
					ID string `json:"id"`
				} `json:"sources"`
			} `json:"context"`
		}
		if json.Unmarshal([]byte(e.Data), &env) != nil || len(env.Data) == 0 {
			continue
		}
		var meta stixMeta
		if json.Unmarshal(env.Data, &meta) != nil || meta.ID == "" {
			continue
		}
		if e.Name == "delete" || (e.flags&flagInferred != 0 && !withInferences) {
			delete(state, meta.ID)
			continue
		}
		if e.Name == "merge" {
			for _, src := range env.Context.Sources {
				if src.ID != meta.ID {
					delete(state, src.ID)
				}
			}
		}
		upd := meta.updatedAt()
		if upd < 0 {
			upd = int64(e.key.ms)
		}
		order++
		state[meta.ID] = &recoveredObject{raw: env.Data, meta: meta, updated: upd, order: order}
	}
	objs := make([]*recoveredObject, 0, len(state))
	for _, o := range state {
		if o.updated >= startMs && o.updated <= recoverMs {
			objs = append(objs, o)
		}
	}
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].updated != objs[j].updated {
			return objs[i].updated < objs[j].updated
		}
		return objs[i].order < objs[j].order
	})
	out := make([]storedEvent, 0, len(objs))
	for _, o := range objs {
		raw := o.raw
		if bytes.ContainsAny(raw, "\r\n") {
			var buf bytes.Buffer
			if json.Compact(&buf, raw) == nil {
				raw = buf.Bytes()
			}
		}
		msg := "creates a " + o.meta.entityType() + " `" + o.meta.representative() + "`"
		var b strings.Builder
		b.WriteString(`{"data":`)
		b.Write(raw)
		b.WriteString(`,"message":`)
		b.Write(jsonString(msg))
		b.WriteString(`,"origin":{"referer":"init"},"version":"4"}`)
		k := idKey{ms: uint64(max(o.updated, 0))}
		out = append(out, storedEvent{Event: Event{ID: k.String(), Name: "create", Data: b.String()}})
	}
	return out
}

// jsonString encodes s as JSON without HTML escaping (like JSON.stringify).
func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
