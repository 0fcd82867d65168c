package octiserver

import (
	json "github.com/segmentio/encoding/json"
	"sort"
	"strings"
	"time"
)

// The platform keeps two things the stream is made of, and so does the
// test server:
//
//   - the stream history, OpenCTI's Redis stream (XADD of every event,
//     trimmed with MAXLEN ~ redis:trimming): Server.history, which Trim
//     shortens from its start;
//   - the database of every object as it is now (OpenCTI's search engine),
//     which recovery lists and dependency resolution loads from:
//     Server.db, kept up to date by every data event appended and never
//     trimmed. AddObjects puts objects in it without a stream event (objects
//     whose events were trimmed long ago, or created by the platform's
//     initialisation).

// object is one STIX object of the database, as it is now.
type object struct {
	id         string // STIX id (OpenCTI's standard_id)
	internalID string // OpenCTI's internal id (the extension's id)
	typ        string // STIX type
	raw        string // the STIX object, compact JSON
	meta       stixMeta
	updated    int64    // updated_at (else modified) in ms; -1 when none
	refs       []string // every *_ref / *_refs value (stixRefsExtractor)
	from, to   string   // relationship or sighting ends (source/target, sighting_of/where_sighted[0])
	ends       []string // every end, for the core-relationship index
	isRel      bool     // relationship or sighting
	inferred   bool
}

// parseObject decodes a STIX object's metadata; raw must be compact JSON
// (it is sent as is).
func parseObject(raw string) (*object, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &top) != nil {
		return nil, false
	}
	o := &object{raw: raw}
	str := func(k string) string {
		var v string
		if b, ok := top[k]; ok {
			_ = json.Unmarshal(b, &v)
		}
		return v
	}
	strs := func(k string) []string {
		var v []string
		if b, ok := top[k]; ok {
			_ = json.Unmarshal(b, &v)
		}
		return v
	}
	m := &o.meta
	m.ID, m.Type, m.Name, m.Value = str("id"), str("type"), str("name"), str("value")
	m.Pattern, m.RelationshipType, m.Modified = str("pattern"), str("relationship_type"), str("modified")
	if b, ok := top["extensions"]; ok {
		_ = json.Unmarshal(b, &m.Extensions)
	}
	o.id, o.typ = m.ID, m.Type
	if o.id == "" {
		return nil, false
	}
	ext := m.Extensions[octiExtension]
	o.internalID = ext.ID
	if o.internalID == "" {
		o.internalID = o.id
	}
	o.inferred = ext.IsInferred
	o.updated = m.updatedAt()
	keys := make([]string, 0, 8)
	for k := range top {
		if strings.HasSuffix(k, "_ref") || strings.HasSuffix(k, "_refs") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // a deterministic order of refs
	for _, k := range keys {
		if strings.HasSuffix(k, "_ref") {
			if v := str(k); v != "" {
				o.refs = append(o.refs, v)
			}
			continue
		}
		for _, v := range strs(k) {
			if v != "" {
				o.refs = append(o.refs, v)
			}
		}
	}
	switch o.typ {
	case "relationship":
		o.isRel, o.from, o.to = true, str("source_ref"), str("target_ref")
		o.ends = []string{o.from, o.to}
	case "sighting":
		where := strs("where_sighted_refs")
		o.isRel, o.from = true, str("sighting_of_ref")
		if len(where) > 0 {
			o.to = where[0]
		}
		o.ends = append([]string{o.from}, where...)
	}
	return o, true
}

// database is the platform's current state of every object.
type database struct {
	objs map[string]*object
	// byEnd indexes relationships and sightings by each of their ends,
	// for the core relationships of an object (fullRelationsList with
	// fromOrToId).
	byEnd map[string]map[string]struct{}
}

func newDatabase() *database {
	return &database{objs: map[string]*object{}, byEnd: map[string]map[string]struct{}{}}
}

func (db *database) get(id string) *object { return db.objs[id] }

func (db *database) put(o *object) {
	db.remove(o.id)
	db.objs[o.id] = o
	for _, e := range o.ends {
		if e == "" {
			continue
		}
		set := db.byEnd[e]
		if set == nil {
			set = map[string]struct{}{}
			db.byEnd[e] = set
		}
		set[o.id] = struct{}{}
	}
}

func (db *database) remove(id string) {
	old, ok := db.objs[id]
	if !ok {
		return
	}
	delete(db.objs, id)
	for _, e := range old.ends {
		if set := db.byEnd[e]; set != nil {
			delete(set, id)
			if len(set) == 0 {
				delete(db.byEnd, e)
			}
		}
	}
}

// relationsOf returns the relationships and sightings that have id as an
// end, not inferred (the platform reads only the core and sighting
// relationship indices here, not the inferred ones), by internal id.
func (db *database) relationsOf(id string) []*object {
	set := db.byEnd[id]
	out := make([]*object, 0, len(set))
	for rid := range set {
		if r := db.objs[rid]; r != nil && !r.inferred {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].internalID < out[j].internalID })
	return out
}

// apply updates the database with a data event of the stream: the
// platform writes its database, then pushes the event to Redis.
func (db *database) apply(kind string, o *object, sources []string) {
	switch kind {
	case "delete":
		db.remove(o.id)
	case "merge":
		for _, src := range sources {
			if src != o.id {
				db.remove(src)
			}
		}
		db.put(o)
	case "create", "update":
		db.put(o)
	}
}

// dataEnvelope is what the server reads of a data event's envelope.
type dataEnvelope struct {
	Version string          `json:"version"`
	Scope   string          `json:"scope"`
	Data    json.RawMessage `json:"data"`
	Context struct {
		Sources []struct {
			ID string `json:"id"`
		} `json:"sources"`
	} `json:"context"`
}

// dataEvent is what the server knows of a create/update/delete/merge event.
type dataEvent struct {
	obj      *object
	version  int      // the envelope's version, parsed as OpenCTI does
	sources  []string // merge: the STIX ids merged away
	internal bool     // scope "internal": never streamed
}

// parseDataEvent reads the object of a create/update/delete/merge event.
// The object's JSON is kept as a substring of data (no copy), compacted
// only when data holds white space outside strings.
func parseDataEvent(data string) (*dataEvent, bool) {
	var env dataEnvelope
	if json.Unmarshal([]byte(data), &env) != nil || len(env.Data) == 0 || env.Data[0] != '{' {
		return nil, false
	}
	raw := string(env.Data)
	if i := strings.Index(data, raw); i >= 0 {
		raw = data[i : i+len(raw)]
	}
	if strings.ContainsAny(raw, "\r\n") {
		raw = string(compactJSON([]byte(raw)))
	}
	o, ok := parseObject(raw)
	if !ok {
		return nil, false
	}
	d := &dataEvent{obj: o, version: atoiPrefix(env.Version), internal: env.Scope == "internal"}
	for _, s := range env.Context.Sources {
		if s.ID != "" {
			d.sources = append(d.sources, s.ID)
		}
	}
	return d, true
}

// atoiPrefix is JavaScript's parseInt(s, 10) for the digits s starts with
// (0 when none).
func atoiPrefix(s string) int {
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// AddObjects puts STIX objects (maps, or JSON text) into the platform's
// database without a stream event: objects that exist in OpenCTI although
// the stream history no longer holds (or never held) their events, such
// as the TLP marking definitions the platform creates at its
// initialisation. Recovery lists them and dependency resolution sends them.
func (s *Server) AddObjects(objs ...any) error {
	parsed := make([]*object, 0, len(objs))
	for _, v := range objs {
		var raw []byte
		switch x := v.(type) {
		case string:
			raw = compactJSON([]byte(x))
		case []byte:
			raw = compactJSON(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return err
			}
			raw = b
		}
		o, ok := parseObject(string(raw))
		if !ok {
			return errBadObject(string(raw))
		}
		parsed = append(parsed, o)
	}
	s.mu.Lock()
	for _, o := range parsed {
		if o.updated < 0 {
			o.updated = s.clock().UnixMilli()
		}
		s.db.put(o)
	}
	s.mu.Unlock()
	return nil
}

type errBadObject string

func (e errBadObject) Error() string {
	s := string(e)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return "octiserver: not a STIX object with an id: " + s
}

// Trim drops the oldest events of the stream history so that at most keep
// remain, as Redis's XTRIM MAXLEN does when OpenCTI trims its stream. The
// database is untouched: recovery still finds every object. A connection
// reading before the new start continues at it, as XREAD does after an id
// older than the stream's first entry.
func (s *Server) Trim(keep int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	drop := len(s.history) - max(keep, 0)
	if drop <= 0 {
		return
	}
	rest := make([]storedEvent, len(s.history)-drop, len(s.history)-drop+16)
	copy(rest, s.history[drop:])
	s.history = rest
	s.base += drop
	s.firstID, s.idCount = "", 0
	for i := range s.history {
		if s.history[i].ID != "" {
			if _, ok := parseID(s.history[i].ID); ok {
				if s.idCount == 0 {
					s.firstID = s.history[i].ID
				}
				s.idCount++
			}
		}
	}
	if s.idCount == 0 {
		s.lastID = ""
	}
}

// Objects returns the platform's current objects (STIX JSON) by STIX id.
func (s *Server) Objects() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]string, len(s.db.objs))
	for id, o := range s.db.objs {
		out[id] = o.raw
	}
	return out
}

// TLPMarkings returns OpenCTI's built-in TLP marking definitions (the
// platform creates them at its initialisation; their ids are fixed), as
// STIX objects for AddObjects.
func TLPMarkings() []map[string]any {
	defs := []struct{ uuid, name, internal string }{
		{"613f2e26-407d-48c7-9eca-b8e91df99dc9", "TLP:CLEAR", "5b8a8b5e-0000-4000-8000-000000000001"},
		{"34098fce-860f-48ae-8e50-ebd3cc5e41da", "TLP:GREEN", "5b8a8b5e-0000-4000-8000-000000000002"},
		{"f88d31f6-486f-44da-b317-01333bde0b82", "TLP:AMBER", "5b8a8b5e-0000-4000-8000-000000000003"},
		{"826578e1-40ad-459f-bc73-ede076f81f37", "TLP:AMBER+STRICT", "5b8a8b5e-0000-4000-8000-000000000004"},
		{"5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "TLP:RED", "5b8a8b5e-0000-4000-8000-000000000005"},
	}
	const at = "2023-01-01T00:00:00.000Z"
	out := make([]map[string]any, len(defs))
	for i, d := range defs {
		out[i] = map[string]any{
			"id": "marking-definition--" + d.uuid, "type": "marking-definition", "spec_version": "2.1",
			"name": d.name, "definition_type": "TLP", "definition": map[string]any{"tlp": strings.ToLower(strings.TrimPrefix(d.name, "TLP:"))},
			"created": at, "modified": at,
			"extensions": map[string]any{octiExtension: map[string]any{
				"extension_type": "property-extension", "id": d.internal, "type": "Marking-Definition",
				"created_at": at, "updated_at": at,
			}},
		}
	}
	return out
}

// compactJSON drops the white space outside strings of valid JSON.
func compactJSON(b []byte) []byte {
	if !strings.ContainsAny(string(b), "\r\n\t ") {
		return b
	}
	buf := make([]byte, 0, len(b))
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			continue
		}
		buf = append(buf, c)
	}
	return buf
}

// isoMillis formats ms as OpenCTI's dates (toISOString).
func isoMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
