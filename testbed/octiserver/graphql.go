package octiserver

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// relaySchemaSDL is OpenCTI 7.260817.0's printed schema (see testdata/README.md).
//
//go:embed testdata/relay.schema.graphql
var relaySchemaSDL string

// OpenCTIVersion is the OpenCTI release the embedded schema comes from.
const OpenCTIVersion = "7.260817.0"

// AdminUserID is the id of OpenCTI's default admin user (the user of the
// server's tokens).
const AdminUserID = "88ec0c6a-13ce-5e39-b486-354fe4a7084f"

var (
	embeddedOnce   sync.Once
	embeddedSchema *ast.Schema
	embeddedErr    error

	fileSchemasMu sync.Mutex
	fileSchemas   = map[string]*ast.Schema{}
)

// RelaySchema returns OpenCTI's GraphQL schema (the embedded
// relay.schema.graphql), parsed once per process. Handy to validate a
// client's queries in unit tests without a server.
func RelaySchema() (*ast.Schema, error) {
	embeddedOnce.Do(func() {
		embeddedSchema, embeddedErr = gqlparser.LoadSchema(&ast.Source{Name: "relay.schema.graphql", Input: relaySchemaSDL})
		if embeddedErr != nil {
			embeddedErr = fmt.Errorf("octiserver: embedded schema: %w", embeddedErr)
		}
	})
	return embeddedSchema, embeddedErr
}

func loadSchema(path string) (*ast.Schema, error) {
	if path == "" {
		return RelaySchema()
	}
	fileSchemasMu.Lock()
	defer fileSchemasMu.Unlock()
	if s, ok := fileSchemas[path]; ok {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("octiserver: schema: %w", err)
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: path, Input: string(b)})
	if err != nil {
		return nil, fmt.Errorf("octiserver: schema %s: %w", path, err)
	}
	fileSchemas[path] = s
	return s, nil
}

// ValidateQuery parses and validates a GraphQL document against the
// embedded OpenCTI schema and returns the error messages (none: valid).
func ValidateQuery(query string) []string {
	schema, err := RelaySchema()
	if err != nil {
		return []string{err.Error()}
	}
	_, errs := parseAndValidate(schema, query)
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Message)
	}
	return msgs
}

// GraphQLCall is a validated GraphQL request, as given to resolvers
// registered with HandleGraphQLCall.
type GraphQLCall struct {
	// OperationName is the operation name sent or, if none was sent, the
	// name of the operation in the document (may be "").
	OperationName string
	OperationType string // "query", "mutation" or "subscription"
	// Variables are the variables as sent (JSON-decoded).
	Variables map[string]any
	// Fields are the root fields of the operation, with their arguments
	// (variables substituted, literals decoded).
	Fields []GraphQLField
}

// GraphQLField is a root field of a GraphQL operation.
type GraphQLField struct {
	Name  string
	Alias string // the response key: the alias, or Name
	Args  map[string]any
}

// Field returns the first root field named name.
func (c GraphQLCall) Field(name string) (GraphQLField, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return GraphQLField{}, false
}

// HandleGraphQL sets the resolver of an operation name, or of a root field
// name (used when no resolver matches the operation name sent). fn gets the
// variables and returns the response's data object, keyed by root field
// name (or alias), and error messages. The data is projected onto the
// query's selection set (aliases applied, unselected fields removed,
// __typename filled), so a resolver may return more than was asked. A nil
// fn removes the resolver.
func (s *Server) HandleGraphQL(name string, fn func(vars map[string]any) (data any, errs []string)) {
	if fn == nil {
		s.HandleGraphQLCall(name, nil)
		return
	}
	s.HandleGraphQLCall(name, func(c GraphQLCall) (any, []string) { return fn(c.Variables) })
}

// HandleGraphQLCall is HandleGraphQL with access to the operation's root
// fields and their arguments.
func (s *Server) HandleGraphQLCall(name string, fn func(call GraphQLCall) (data any, errs []string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.resolvers, name)
		return
	}
	s.resolvers[name] = fn
}

// SetConnectorState overrides the saved state of a connector, as an
// operator resetting it in OpenCTI does: the connector's next pingConnector
// returns this state (and does not save the state it sends). For a
// connector not registered yet, the state is pre-seeded: registerConnector
// will return it.
func (s *Server) SetConnectorState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.connectors[id]; ok {
		c.State = state
		c.StateReset = true
		return
	}
	now := s.nowISO()
	s.connectors[id] = &connector{ID: id, State: state, CreatedAt: now, UpdatedAt: now}
}

// ConnectorState returns the state saved for a connector; ok is false for
// an unknown connector or a null state.
func (s *Server) ConnectorState(id string) (state string, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, found := s.connectors[id]
	if !found {
		return "", false
	}
	st, isString := c.State.(string)
	return st, isString
}

func (s *Server) nowISO() string {
	return s.clock().UTC().Format("2006-01-02T15:04:05.000Z")
}

type gqlErrorOut struct {
	Message    string              `json:"message"`
	Locations  []gqlerror.Location `json:"locations,omitempty"`
	Path       []any               `json:"path,omitempty"`
	Extensions map[string]any      `json:"extensions,omitempty"`
}

type gqlResponse struct {
	Errors []gqlErrorOut   `json:"errors,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

func parseAndValidate(schema *ast.Schema, query string) (*ast.QueryDocument, []gqlErrorOut) {
	doc, err := parser.ParseQuery(&ast.Source{Name: "query", Input: query})
	if err != nil {
		return nil, toErrors(err, "GRAPHQL_PARSE_FAILED")
	}
	if errs := validator.ValidateWithRules(schema, doc, nil); len(errs) > 0 {
		return nil, toErrors(errs, "GRAPHQL_VALIDATION_FAILED")
	}
	return doc, nil
}

func toErrors(err error, code string) []gqlErrorOut {
	var list gqlerror.List
	var one *gqlerror.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = gqlerror.List{one}
	default:
		return []gqlErrorOut{{Message: err.Error(), Extensions: map[string]any{"code": code}}}
	}
	out := make([]gqlErrorOut, 0, len(list))
	for _, e := range list {
		msg := e.Message
		if code == "BAD_USER_INPUT" && len(e.Path) > 0 {
			msg = e.Path.String() + " " + msg
		}
		out = append(out, gqlErrorOut{Message: msg, Locations: e.Locations, Extensions: map[string]any{"code": code}})
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func decodeVars(raw []byte) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = map[string]any{}
	}
	return v, nil
}

func (s *Server) handleGraphQL(w http.ResponseWriter, r *http.Request) {
	rec := GraphQLRequest{Time: s.clock(), AuthOK: s.authOK(r)}
	var body struct {
		Query         string          `json:"query"`
		Variables     json.RawMessage `json:"variables"`
		OperationName string          `json:"operationName"`
	}
	var badRequest string
	switch r.Method {
	case http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			return
		}
		if err := json.Unmarshal(b, &body); err != nil {
			badRequest = "POST body is not valid JSON: " + err.Error()
		}
	case http.MethodGet:
		q := r.URL.Query()
		body.Query, body.OperationName = q.Get("query"), q.Get("operationName")
		body.Variables = json.RawMessage(q.Get("variables"))
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rec.Query, rec.OperationName = body.Query, body.OperationName
	vars, err := decodeVars(body.Variables)
	if err != nil && badRequest == "" {
		badRequest = "variables are not a JSON object: " + err.Error()
	}
	rec.Variables = vars
	if badRequest == "" && strings.TrimSpace(body.Query) == "" {
		badRequest = "GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension."
	}
	if badRequest != "" {
		rec.ValidationErrors = []string{badRequest}
		rec.Errors = rec.ValidationErrors
		s.recordGraphQL(rec)
		writeJSON(w, http.StatusBadRequest, gqlResponse{Errors: []gqlErrorOut{{Message: badRequest, Extensions: map[string]any{"code": "BAD_REQUEST"}}}})
		return
	}

	resp := s.executeGraphQL(&rec, body.Query, body.OperationName, body.Variables)
	for _, e := range resp.Errors {
		rec.Errors = append(rec.Errors, e.Message)
	}
	s.recordGraphQL(rec)
	// OpenCTI answers 200 even when there are errors (httpResponsePlugin).
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) recordGraphQL(rec GraphQLRequest) {
	s.mu.Lock()
	s.gqlReqs = append(s.gqlReqs, rec)
	s.mu.Unlock()
}

func (s *Server) executeGraphQL(rec *GraphQLRequest, query, opName string, rawVars json.RawMessage) gqlResponse {
	invalid := func(errs []gqlErrorOut) gqlResponse {
		for _, e := range errs {
			rec.ValidationErrors = append(rec.ValidationErrors, e.Message)
		}
		return gqlResponse{Errors: errs}
	}
	doc, errs := parseAndValidate(s.schema, query)
	if len(errs) > 0 {
		return invalid(errs)
	}
	var op *ast.OperationDefinition
	switch {
	case len(doc.Operations) == 0:
		return invalid([]gqlErrorOut{{Message: "Must provide an operation.", Extensions: map[string]any{"code": "OPERATION_RESOLUTION_FAILURE"}}})
	case opName != "":
		op = doc.Operations.ForName(opName)
		if op == nil {
			return invalid([]gqlErrorOut{{Message: fmt.Sprintf("Unknown operation named %q.", opName), Extensions: map[string]any{"code": "OPERATION_RESOLUTION_FAILURE"}}})
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return invalid([]gqlErrorOut{{Message: "Must provide operation name if query contains multiple operations.", Extensions: map[string]any{"code": "OPERATION_RESOLUTION_FAILURE"}}})
	}
	rec.OperationType = string(op.Operation)
	// The validator writes coerced values into the map it is given: give
	// it its own copy.
	valVars, _ := decodeVars(rawVars)
	coerced, err := validator.VariableValues(s.schema, op, valVars)
	if err != nil {
		return invalid(toErrors(err, "BAD_USER_INPUT"))
	}

	call := GraphQLCall{OperationName: opName, OperationType: string(op.Operation), Variables: rec.Variables}
	if call.OperationName == "" {
		call.OperationName = op.Name
	}
	var rootFields []*ast.Field
	collectRootFields(op.SelectionSet, &rootFields)
	for _, f := range rootFields {
		key := f.Alias
		if key == "" {
			key = f.Name
		}
		call.Fields = append(call.Fields, GraphQLField{Name: f.Name, Alias: key, Args: f.ArgumentMap(coerced)})
		rec.Fields = append(rec.Fields, f.Name)
	}

	var rootType *ast.Definition
	switch op.Operation {
	case ast.Mutation:
		rootType = s.schema.Mutation
	case ast.Subscription:
		rootType = s.schema.Subscription
	default:
		rootType = s.schema.Query
	}

	if !rec.AuthOK {
		data := map[string]any{}
		var out []gqlErrorOut
		for _, f := range call.Fields {
			data[f.Alias] = nil
			out = append(out, gqlErrorOut{Message: "You must be logged in to do this.", Path: []any{f.Alias}, Extensions: map[string]any{"code": "AUTH_REQUIRED"}})
		}
		return gqlResponse{Errors: out, Data: s.project(op.SelectionSet, data, rootType)}
	}

	data := map[string]any{}
	var msgs []string
	s.mu.RLock()
	fn := s.resolvers[call.OperationName]
	s.mu.RUnlock()
	merge := func(d any, e []string) {
		msgs = append(msgs, e...)
		if d == nil {
			return
		}
		m, err := normalize(d)
		if err != nil {
			msgs = append(msgs, "octiserver: resolver data: "+err.Error())
			return
		}
		obj, ok := m.(map[string]any)
		if !ok {
			msgs = append(msgs, fmt.Sprintf("octiserver: resolver data is a %T, not an object", m))
			return
		}
		for k, v := range obj {
			data[k] = v
		}
	}
	if fn != nil && call.OperationName != "" {
		merge(fn(call))
	} else {
		seen := map[string]bool{}
		for _, f := range call.Fields {
			if seen[f.Name] || strings.HasPrefix(f.Name, "__") {
				continue
			}
			seen[f.Name] = true
			s.mu.RLock()
			fn := s.resolvers[f.Name]
			s.mu.RUnlock()
			if fn == nil {
				msgs = append(msgs, fmt.Sprintf("octiserver: no resolver for operation %q or field %q", call.OperationName, f.Name))
				continue
			}
			merge(fn(call))
		}
	}
	resp := gqlResponse{Data: s.project(op.SelectionSet, data, rootType)}
	for _, m := range msgs {
		resp.Errors = append(resp.Errors, gqlErrorOut{Message: m, Extensions: map[string]any{"code": "INTERNAL_SERVER_ERROR"}})
	}
	return resp
}

func collectRootFields(set ast.SelectionSet, out *[]*ast.Field) {
	for _, sel := range set {
		switch f := sel.(type) {
		case *ast.Field:
			*out = append(*out, f)
		case *ast.InlineFragment:
			collectRootFields(f.SelectionSet, out)
		case *ast.FragmentSpread:
			if f.Definition != nil {
				collectRootFields(f.Definition.SelectionSet, out)
			}
		}
	}
}

// normalize turns any Go value into its JSON form (maps, slices,
// json.Number, strings, booleans, nil).
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// omap is a JSON object keeping its keys in insertion order.
type omap struct {
	keys []string
	vals map[string]any
}

func newOmap() *omap { return &omap{vals: map[string]any{}} }

func (m *omap) set(k string, v any) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *omap) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(jsonString(k))
		buf.WriteByte(':')
		b, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// project shapes resolver data like a GraphQL executor would: only the
// selected fields, under their aliases, fragments applied.
func (s *Server) project(set ast.SelectionSet, data map[string]any, rootType *ast.Definition) json.RawMessage {
	typeName := ""
	if rootType != nil {
		typeName = rootType.Name
	}
	out := newOmap()
	s.collect(set, data, typeName, out)
	b, err := json.Marshal(out)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func (s *Server) collect(set ast.SelectionSet, src map[string]any, typeName string, out *omap) {
	for _, sel := range set {
		switch f := sel.(type) {
		case *ast.Field:
			key := f.Alias
			if key == "" {
				key = f.Name
			}
			if f.Name == "__typename" {
				out.set(key, concreteType(src, typeName))
				continue
			}
			v, ok := src[key]
			if !ok {
				v = src[f.Name]
			}
			if len(f.SelectionSet) == 0 {
				out.set(key, v)
				continue
			}
			fieldType := ""
			if f.Definition != nil && f.Definition.Type != nil {
				fieldType = f.Definition.Type.Name()
			}
			if existing, ok := out.vals[key].(*omap); ok {
				if m, ok := v.(map[string]any); ok {
					s.collect(f.SelectionSet, m, concreteType(m, fieldType), existing)
					continue
				}
			}
			out.set(key, s.value(f.SelectionSet, v, fieldType))
		case *ast.InlineFragment:
			if s.matches(f.TypeCondition, src, typeName) {
				s.collect(f.SelectionSet, src, typeName, out)
			}
		case *ast.FragmentSpread:
			if f.Definition != nil && s.matches(f.Definition.TypeCondition, src, typeName) {
				s.collect(f.Definition.SelectionSet, src, typeName, out)
			}
		}
	}
}

func (s *Server) value(set ast.SelectionSet, v any, typeName string) any {
	switch x := v.(type) {
	case map[string]any:
		out := newOmap()
		s.collect(set, x, concreteType(x, typeName), out)
		return out
	case []any:
		res := make([]any, len(x))
		for i := range x {
			res[i] = s.value(set, x[i], typeName)
		}
		return res
	default:
		return v
	}
}

func concreteType(m map[string]any, def string) string {
	if tn, ok := m["__typename"].(string); ok && tn != "" {
		return tn
	}
	return def
}

// matches reports whether a fragment with type condition cond applies to
// src. Without a __typename in src the concrete type is unknown and every
// fragment applies.
func (s *Server) matches(cond string, src map[string]any, typeName string) bool {
	if cond == "" || cond == typeName {
		return true
	}
	tn, ok := src["__typename"].(string)
	if !ok || tn == "" {
		def := s.schema.Types[typeName]
		return def == nil || def.Kind == ast.Interface || def.Kind == ast.Union
	}
	if tn == cond {
		return true
	}
	for _, pt := range s.schema.PossibleTypes[cond] {
		if pt.Name == tn {
			return true
		}
	}
	return false
}

// Default resolvers.

func (s *Server) registerDefaultResolvers() {
	s.resolvers["registerConnector"] = s.resolveRegisterConnector
	s.resolvers["pingConnector"] = s.resolvePingConnector
	s.resolvers["about"] = s.resolveAbout
	s.resolvers["me"] = s.resolveMe
}

// perField runs fn for each root field named name; results are keyed by
// response key.
func perField(call GraphQLCall, name string, fn func(f GraphQLField) (any, string)) (any, []string) {
	data := map[string]any{}
	var errs []string
	for _, f := range call.Fields {
		if f.Name != name {
			continue
		}
		v, e := fn(f)
		data[f.Alias] = v
		if e != "" {
			errs = append(errs, e)
		}
	}
	return data, errs
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

func (s *Server) resolveRegisterConnector(call GraphQLCall) (any, []string) {
	return perField(call, "registerConnector", func(f GraphQLField) (any, string) {
		input, _ := f.Args["input"].(map[string]any)
		if input == nil {
			return nil, "Cannot destructure property 'id' of 'connectorData' as it is null."
		}
		id := str(input["id"])
		var scope []string
		if list, ok := input["scope"].([]any); ok {
			for _, v := range list {
				scope = append(scope, str(v))
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.nowISO()
		c, ok := s.connectors[id]
		if !ok {
			c = &connector{ID: id, CreatedAt: now}
			s.connectors[id] = c
		}
		c.Registered = true
		c.Name = str(input["name"])
		c.Type = str(input["type"])
		c.Scope = scope
		c.Auto = input["auto"]
		c.OnlyContextual = input["only_contextual"]
		c.UpdatedAt = now
		return s.connectorView(c), ""
	})
}

func (s *Server) resolvePingConnector(call GraphQLCall) (any, []string) {
	return perField(call, "pingConnector", func(f GraphQLField) (any, string) {
		id := str(f.Args["id"])
		s.mu.Lock()
		defer s.mu.Unlock()
		c, ok := s.connectors[id]
		if !ok || !c.Registered {
			return nil, "No connector found with the specified ID"
		}
		if c.StateReset {
			c.StateReset = false
		} else {
			c.State = f.Args["state"]
		}
		if info, ok := f.Args["connectorInfo"]; ok && info != nil {
			c.Info = info
		}
		c.UpdatedAt = s.nowISO()
		return s.connectorView(c), ""
	})
}

func (s *Server) connectorView(c *connector) map[string]any {
	scope := any(nil)
	if c.Scope != nil {
		scope = c.Scope
	}
	return map[string]any{
		"__typename":                "Connector",
		"id":                        c.ID,
		"standard_id":               "connector--" + c.ID,
		"entity_type":               "Connector",
		"parent_types":              []string{"Basic-Object", "Internal-Object"},
		"name":                      c.Name,
		"title":                     c.Name,
		"active":                    true,
		"auto":                      c.Auto,
		"only_contextual":           c.OnlyContextual,
		"playbook_compatible":       false,
		"connector_type":            c.Type,
		"connector_scope":           scope,
		"connector_state":           c.State,
		"connector_state_reset":     c.StateReset,
		"connector_state_timestamp": c.UpdatedAt,
		"connector_user_id":         AdminUserID,
		"connector_info":            c.Info,
		"connector_priority_group":  "default",
		"connector_queue_details":   map[string]any{"messages_number": 0, "messages_size": 0},
		"created_at":                c.CreatedAt,
		"updated_at":                c.UpdatedAt,
		"built_in":                  false,
		"is_managed":                false,
		"jwks":                      "",
		"config": map[string]any{
			"connection": map[string]any{
				"host": "rabbitmq", "vhost": "/", "use_ssl": false, "port": 5672, "user": "guest", "pass": "guest",
			},
			"s3": map[string]any{
				"endpoint": "minio", "port": 9000, "use_ssl": false, "bucket_name": "opencti-bucket",
				"bucket_region": "us-east-1", "access_key": "opencti", "secret_key": "changeme",
			},
			"listen":              "listen_" + c.ID,
			"listen_routing":      "listen_routing_" + c.ID,
			"listen_exchange":     "amqp.connector.exchange",
			"push":                "push_" + c.ID,
			"push_routing":        "push_routing_" + c.ID,
			"push_exchange":       "amqp.worker.exchange",
			"dead_letter_routing": "dead_letter_routing",
		},
	}
}

func (s *Server) resolveAbout(call GraphQLCall) (any, []string) {
	return perField(call, "about", func(GraphQLField) (any, string) {
		return map[string]any{
			"version": OpenCTIVersion,
			"dependencies": []map[string]any{
				{"name": "Search engine", "version": "8.19.0"},
				{"name": "RabbitMQ", "version": "4.1.0"},
				{"name": "Redis", "version": "8.0.0"},
			},
		}, ""
	})
}

func (s *Server) resolveMe(call GraphQLCall) (any, []string) {
	return perField(call, "me", func(GraphQLField) (any, string) {
		return map[string]any{
			"__typename":     "MeUser",
			"id":             AdminUserID,
			"standard_id":    "user--" + AdminUserID,
			"entity_type":    "User",
			"parent_types":   []string{"Basic-Object", "Internal-Object"},
			"name":           "admin",
			"user_email":     "admin@opencti.io",
			"account_status": "Active",
			"capabilities":   []map[string]any{{"id": "bypass", "name": "BYPASS", "entity_type": "Capability"}},
		}, ""
	})
}
