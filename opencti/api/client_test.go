package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

const token = "test-token"

// TestOperationsValidate checks every document the client can send against
// OpenCTI's real schema (the test server's embedded relay.schema.graphql).
func TestOperationsValidate(t *testing.T) {
	ops := Operations()
	if len(ops) != 9 {
		t.Errorf("Operations() has %d documents, want 9: a new operation must be listed there", len(ops))
	}
	nameRe := regexp.MustCompile(`^(query|mutation) (\w+)`)
	for name, q := range ops {
		t.Run(name, func(t *testing.T) {
			if errs := octiserver.ValidateQuery(q); len(errs) > 0 {
				t.Fatalf("%s does not validate against OpenCTI %s: %v", name, octiserver.OpenCTIVersion, errs)
			}
			m := nameRe.FindStringSubmatch(q)
			if m == nil || m[2] != name {
				t.Fatalf("document of %s names its operation %v", name, m)
			}
		})
	}
}

func TestIdentityStixID(t *testing.T) {
	tests := []struct {
		name string
		typ  IdentityType
		in   string
		want string
	}{
		// Expected values computed with Python: uuid.uuid5(UUID(ns),
		// json.dumps({...}, separators=(",", ":"), sort_keys=True)).
		{"system, trimmed and lower-cased", IdentitySystem, "  Elastic Security ", "identity--cad7e6b6-a8f1-5529-a91f-b4c37576a5b9"},
		{"security platform", IdentitySecurityPlatform, "Elastic", "identity--774d9701-19f9-52e5-a26a-bb3fb98260e4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IdentityStixID(tt.typ, tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("IdentityStixID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := IdentityStixID("Organization", "x"); err == nil {
		t.Fatal("unknown identity type accepted")
	}
	if got := uuid.NewSHA1(uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), []byte("python.org")).String(); got != "886313e1-3b8a-5372-9b90-0c9aee199e5d" {
		t.Fatalf("UUIDv5 RFC vector = %s", got)
	}
}

func newServer(t *testing.T) *octiserver.Server {
	t.Helper()
	srv, err := octiserver.New(octiserver.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, base string) *Client {
	t.Helper()
	cfg := opencti.DefaultConfig()
	cfg.URL, cfg.Token = base, token
	c, err := New(cfg, WithRetry(3, time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lastRequest returns the last GraphQL request and fails on validation
// errors or a missing token.
func lastRequest(t *testing.T, srv *octiserver.Server) octiserver.GraphQLRequest {
	t.Helper()
	reqs := srv.GraphQLRequests()
	if len(reqs) == 0 {
		t.Fatal("no GraphQL request recorded")
	}
	r := reqs[len(reqs)-1]
	if len(r.ValidationErrors) > 0 || !r.AuthOK {
		t.Fatalf("request %s: validation %v, auth %v", r.OperationName, r.ValidationErrors, r.AuthOK)
	}
	return r
}

func TestRoundTrips(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	c := newClient(t, srv.URL())

	ind := map[string]any{"id": "a1b2", "standard_id": "indicator--1", "name": "1.2.3.4", "pattern": "[ipv4-addr:value = '1.2.3.4']", "revoked": false}
	srv.HandleGraphQLCall("indicator", func(call octiserver.GraphQLCall) (any, []string) {
		f, _ := call.Field("indicator")
		if f.Args["id"] == "a1b2" || f.Args["id"] == "indicator--1" {
			return map[string]any{"indicator": ind}, nil
		}
		return map[string]any{"indicator": nil}, nil
	})
	srv.HandleGraphQL("indicators", func(vars map[string]any) (any, []string) {
		return map[string]any{"indicators": map[string]any{"edges": []any{map[string]any{"node": ind}}}}, nil
	})
	var identityInput map[string]any
	srv.HandleGraphQL("systemAdd", func(vars map[string]any) (any, []string) {
		identityInput, _ = vars["input"].(map[string]any)
		return map[string]any{"systemAdd": map[string]any{"id": "sys-1", "standard_id": identityInput["stix_id"], "name": identityInput["name"]}}, nil
	})
	srv.HandleGraphQL("securityPlatformAdd", func(vars map[string]any) (any, []string) {
		identityInput, _ = vars["input"].(map[string]any)
		return map[string]any{"securityPlatformAdd": map[string]any{"id": "sp-1", "standard_id": identityInput["stix_id"], "name": identityInput["name"]}}, nil
	})
	var sightingInput map[string]any
	sighting := map[string]any{
		"id": "s-1", "standard_id": "sighting--x", "x_opencti_stix_ids": []any{"sighting--mine"},
		"fromId": "a1b2", "toId": "sys-1", "first_seen": "2024-01-01T00:00:00.000Z", "last_seen": "2024-01-02T00:00:00.000Z",
		"attribute_count": 3, "confidence": 80,
	}
	srv.HandleGraphQL("stixSightingRelationshipAdd", func(vars map[string]any) (any, []string) {
		sightingInput, _ = vars["input"].(map[string]any)
		return map[string]any{"stixSightingRelationshipAdd": sighting}, nil
	})
	srv.HandleGraphQLCall("stixSightingRelationship", func(call octiserver.GraphQLCall) (any, []string) {
		f, _ := call.Field("stixSightingRelationship")
		if f.Args["id"] == "sighting--mine" {
			return map[string]any{"stixSightingRelationship": sighting}, nil
		}
		return map[string]any{"stixSightingRelationship": nil}, nil
	})

	t.Run("about", func(t *testing.T) {
		v, err := c.About(ctx)
		if err != nil || v != octiserver.OpenCTIVersion {
			t.Fatalf("About = %q, %v", v, err)
		}
		if r := lastRequest(t, srv); r.OperationName != "OpenctibeatAbout" {
			t.Fatalf("operation name %q", r.OperationName)
		}
	})
	t.Run("indicator found and missing", func(t *testing.T) {
		got, err := c.Indicator(ctx, "indicator--1")
		if err != nil || got == nil || got.ID != "a1b2" || got.Pattern != ind["pattern"] {
			t.Fatalf("Indicator = %+v, %v", got, err)
		}
		lastRequest(t, srv)
		got, err = c.Indicator(ctx, "nope")
		if err != nil || got != nil {
			t.Fatalf("missing Indicator = %+v, %v", got, err)
		}
	})
	t.Run("indicator search", func(t *testing.T) {
		got, err := c.SearchIndicators(ctx, "1.2.3.4", 20)
		if err != nil || len(got) != 1 || got[0].StandardID != "indicator--1" {
			t.Fatalf("SearchIndicators = %+v, %v", got, err)
		}
		if r := lastRequest(t, srv); r.Variables["search"] != "1.2.3.4" {
			t.Fatalf("variables %v", r.Variables)
		}
	})
	t.Run("identities", func(t *testing.T) {
		for _, typ := range []IdentityType{IdentitySystem, IdentitySecurityPlatform} {
			got, err := c.EnsureIdentity(ctx, IdentityInput{Type: typ, Name: " Elastic ", Description: "d", Markings: []string{"m"}})
			if err != nil {
				t.Fatal(err)
			}
			lastRequest(t, srv)
			want, _ := IdentityStixID(typ, "Elastic")
			if identityInput["stix_id"] != want || identityInput["name"] != "Elastic" || got.StandardID != want {
				t.Fatalf("%s: input %v, got %+v", typ, identityInput, got)
			}
		}
	})
	t.Run("sighting read", func(t *testing.T) {
		got, err := c.Sighting(ctx, "sighting--mine")
		if err != nil || got == nil {
			t.Fatalf("Sighting = %+v, %v", got, err)
		}
		want := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
		if got.Count != 3 || !got.LastSeen.Equal(want) || got.ID != "s-1" {
			t.Fatalf("Sighting = %+v", got)
		}
		if got, err := c.Sighting(ctx, "sighting--other"); err != nil || got != nil {
			t.Fatalf("missing Sighting = %+v, %v", got, err)
		}
	})
	t.Run("sighting add", func(t *testing.T) {
		conf := 80
		in := SightingInput{
			StixID: "sighting--mine", FromID: "a1b2", ToID: "sys-1",
			FirstSeen: time.Date(2024, 1, 1, 0, 0, 0, 123456789, time.FixedZone("x", 3600)),
			LastSeen:  time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
			Count:     3, Confidence: &conf, Description: "desc", Markings: []string{"marking-definition--x"},
		}
		got, err := c.AddSighting(ctx, in)
		if err != nil || got.ID != "s-1" || got.Count != 3 {
			t.Fatalf("AddSighting = %+v, %v", got, err)
		}
		lastRequest(t, srv)
		want := map[string]any{
			"stix_id": "sighting--mine", "fromId": "a1b2", "toId": "sys-1",
			"first_seen": "2023-12-31T23:00:00.123Z", "last_seen": "2024-01-02T00:00:00.000Z",
			"attribute_count": float64(3), "confidence": float64(80), "description": "desc",
			"objectMarking": []any{"marking-definition--x"}, "x_opencti_negative": false, "update": true,
		}
		if d := cmp.Diff(want, sightingInput); d != "" {
			t.Fatalf("input (-want +got):\n%s", d)
		}
	})
	t.Run("connector register and ping", func(t *testing.T) {
		yes := true
		conn, err := c.RegisterConnector(ctx, ConnectorRegistration{ID: "c-1", Name: "openctibeat", Type: "STREAM", Scope: []string{"indicator"}, Auto: &yes})
		if err != nil || conn.ID != "c-1" || conn.State != nil {
			t.Fatalf("RegisterConnector = %+v, %v", conn, err)
		}
		lastRequest(t, srv)
		state := `{"start_from":"1-0"}`
		now := time.Now()
		conn, err = c.PingConnector(ctx, "c-1", &state, &ConnectorInfo{QueueThreshold: 500, LastRun: &now})
		if err != nil || conn.State == nil || *conn.State != state {
			t.Fatalf("PingConnector = %+v, %v", conn, err)
		}
		lastRequest(t, srv)
		srv.SetConnectorState("c-1", `{"start_from":"0-0"}`)
		conn, err = c.PingConnector(ctx, "c-1", &state, nil)
		if err != nil || !conn.StateReset && (conn.State == nil || *conn.State != `{"start_from":"0-0"}`) {
			t.Fatalf("PingConnector after reset = %+v, %v", conn, err)
		}
		if got, ok := srv.ConnectorState("c-1"); !ok || got != `{"start_from":"0-0"}` {
			t.Fatalf("server state %q", got)
		}
	})
}

func TestGraphQLErrorNamesOperation(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv.URL())
	srv.HandleGraphQL("stixSightingRelationshipAdd", func(map[string]any) (any, []string) {
		return map[string]any{"stixSightingRelationshipAdd": nil}, []string{"Restricted entity already exists"}
	})
	_, err := c.AddSighting(context.Background(), SightingInput{FromID: "a", ToID: "b", Count: 1, FirstSeen: time.Now(), LastSeen: time.Now()})
	var ge *GraphQLError
	if !errors.As(err, &ge) || ge.Operation != "OpenctibeatSightingAdd" || len(ge.Errors) != 1 || ge.Errors[0].Message != "Restricted entity already exists" {
		t.Fatalf("err = %#v", err)
	}
	if IsTransient(err) {
		t.Fatal("a GraphQL error is not transient")
	}
	if n := len(srv.GraphQLRequests()); n != 1 {
		t.Fatalf("%d requests, want 1 (no retry)", n)
	}
}

// flaky forwards to the test server after failing the first n requests with
// status.
type flaky struct {
	target *url.URL
	fail   atomic.Int32
	status int
	count  atomic.Int32
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.count.Add(1)
	if f.fail.Add(-1) >= 0 {
		http.Error(w, "upstream trouble", f.status)
		return
	}
	httputil.NewSingleHostReverseProxy(f.target).ServeHTTP(w, r)
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		fails     int32
		call      func(c *Client) error
		wantErr   bool
		transient bool
		wantReqs  int32
	}{
		{"502 twice then ok", http.StatusBadGateway, 2, func(c *Client) error { _, err := c.About(context.Background()); return err }, false, false, 3},
		{"5xx beyond the retries", http.StatusServiceUnavailable, 10, func(c *Client) error { _, err := c.About(context.Background()); return err }, true, true, 4},
		{"401 is not retried", http.StatusUnauthorized, 10, func(c *Client) error { _, err := c.About(context.Background()); return err }, true, false, 1},
		{"sighting add is sent once", http.StatusBadGateway, 1, func(c *Client) error {
			_, err := c.AddSighting(context.Background(), SightingInput{FromID: "a", ToID: "b", Count: 1, FirstSeen: time.Now(), LastSeen: time.Now()})
			return err
		}, true, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			srv.HandleGraphQL("stixSightingRelationshipAdd", func(map[string]any) (any, []string) {
				return map[string]any{"stixSightingRelationshipAdd": map[string]any{"id": "s"}}, nil
			})
			u, _ := url.Parse(srv.URL())
			f := &flaky{target: u, status: tt.status}
			f.fail.Store(tt.fails)
			proxy := httptest.NewServer(f)
			defer proxy.Close()
			err := tt.call(newClient(t, proxy.URL))
			if (err != nil) != tt.wantErr || IsTransient(err) != tt.transient {
				t.Fatalf("err = %v (transient %v), want error %v transient %v", err, IsTransient(err), tt.wantErr, tt.transient)
			}
			var te *TransportError
			if tt.wantErr && (!errors.As(err, &te) || te.StatusCode != tt.status || te.Operation == "") {
				t.Fatalf("err = %#v, want a *TransportError with status %d", err, tt.status)
			}
			if got := f.count.Load(); got != tt.wantReqs {
				t.Fatalf("%d requests, want %d", got, tt.wantReqs)
			}
		})
	}
}

func TestRejectedDocumentIsAGraphQLError(t *testing.T) {
	// Apollo answers a document it cannot validate with HTTP 400 and errors[].
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":[{"message":"Cannot query field \"x\" on type \"Query\".","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`))
	})
	s := httptest.NewServer(h)
	defer s.Close()
	_, err := newClient(t, s.URL).About(context.Background())
	var ge *GraphQLError
	if !errors.As(err, &ge) || ge.StatusCode != 400 || !ge.HasCode("GRAPHQL_VALIDATION_FAILED") || ge.Operation != "OpenctibeatAbout" {
		t.Fatalf("err = %#v", err)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer s.Close()
	cfg := opencti.DefaultConfig()
	cfg.URL, cfg.Token = s.URL, token
	c, err := New(cfg, WithRetry(5, time.Minute, time.Minute)) // within the retry bound (3 × 90s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.About(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func TestBadToken(t *testing.T) {
	srv := newServer(t)
	cfg := opencti.DefaultConfig()
	cfg.URL, cfg.Token = srv.URL(), "wrong"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Indicator(context.Background(), "x")
	var ge *GraphQLError
	if !errors.As(err, &ge) || !ge.HasCode("AUTH_REQUIRED") {
		t.Fatalf("err = %v", err)
	}
}

// fakeClock is a clock that only moves when told: by a sleep between
// tries, or by the test server for the time a request took.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.advance(d)
	return ctx.Err()
}

// TestRetryBound: a call, retries included, stays within RetryBound ×
// opencti.timeout. Against an OpenCTI that never answers, a read is tried
// twice (each try costs the whole timeout; a third could not end in time)
// and returns the timeout; fast failures get every retry while they fit; a
// mutation is sent once. The clock is injected: each request to the hung
// server advances it by the timeout, each wait by its delay.
func TestRetryBound(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name        string
		hang        bool
		retries     int
		init, max   time.Duration
		call        func(c *Client) error
		wantReqs    int32
		wantTimeout bool
	}{
		{"hung: a read is tried twice", true, 5, 10 * time.Millisecond, 10 * time.Millisecond, func(c *Client) error {
			_, err := c.Indicator(context.Background(), "x")
			return err
		}, 2, true},
		{"hung: a mutation is sent once", true, 5, 10 * time.Millisecond, 10 * time.Millisecond, func(c *Client) error {
			_, err := c.AddSighting(context.Background(), SightingInput{FromID: "a", ToID: "b", Count: 1, FirstSeen: time.Now(), LastSeen: time.Now()})
			return err
		}, 1, true},
		{"502: every retry fits", false, 5, 10 * time.Millisecond, 10 * time.Millisecond, func(c *Client) error {
			_, err := c.About(context.Background())
			return err
		}, 6, false},
		{"502: waits of one timeout, the third try is the last that fits", false, 5, timeout, timeout, func(c *Client) error {
			_, err := c.About(context.Background())
			return err
		}, 3, false},
		{"502: a first wait past the bound, no retry", false, 5, 3 * timeout, 3 * timeout, func(c *Client) error {
			_, err := c.About(context.Background())
			return err
		}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
			var reqs atomic.Int32
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs.Add(1)
				_, _ = io.Copy(io.Discard, r.Body) // then a hang-up cancels r.Context()
				if !tt.hang {
					http.Error(w, "down", http.StatusBadGateway)
					return
				}
				clock.advance(timeout)
				// Until the client hangs up; the cap only keeps a client
				// without a timeout from hanging the test.
				select {
				case <-r.Context().Done():
				case <-time.After(20 * time.Second):
				}
			}))
			defer s.Close()
			cfg := opencti.DefaultConfig()
			cfg.URL, cfg.Token = s.URL, token
			cfg.Transport.Timeout = timeout
			c, err := New(cfg, WithRetry(tt.retries, tt.init, tt.max), WithClock(clock.Now, clock.Sleep))
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(c)
			var te *TransportError
			if !errors.As(err, &te) || !IsTransient(err) {
				t.Fatalf("err = %v, want a transient *TransportError", err)
			}
			var ne net.Error
			if timedOut := errors.As(err, &ne) && ne.Timeout(); timedOut != tt.wantTimeout {
				t.Fatalf("err = %v: timeout %v, want %v", err, timedOut, tt.wantTimeout)
			}
			if got := reqs.Load(); got != tt.wantReqs {
				t.Fatalf("%d requests, want %d (err %v)", got, tt.wantReqs, err)
			}
			t.Logf("%v", err)
		})
	}
}
