package cmd

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/elastic/elastic-agent-libs/transport/tlscommon"

	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

const testToken = "s3cret-token-value"

func newOctiServer(t *testing.T) *octiserver.Server {
	t.Helper()
	srv, err := octiserver.New(octiserver.Options{
		Token:          testToken,
		StreamIDs:      []string{"feed-1"},
		StoppedStreams: []string{"paused-1"},
		Events:         []octiserver.Event{{ID: "1714557600000-0", Name: "create", Data: `{"version":"4"}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func testConfig(base, token, streamID string) config.Config {
	cfg := config.Default()
	cfg.OpenCTI.URL = base
	cfg.OpenCTI.Token = opencti.Secret(token)
	cfg.Stream.ID = streamID
	return cfg
}

// run runs the checks and returns the output lines, keyed by check name.
func run(t *testing.T, cfg config.Config) (map[string]string, string, error) {
	t.Helper()
	var out bytes.Buffer
	err := RunChecks(context.Background(), cfg, &out)
	text := out.String()
	t.Logf("test opencti output:\n%s", text)
	if strings.Contains(text, testToken) || strings.Contains(text, "wrong-token") {
		t.Fatalf("the output shows the token:\n%s", text)
	}
	lines := map[string]string{}
	re := regexp.MustCompile(`^(.+?)\.\.\. (.*)$`)
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q is not `<check>... <result>`:\n%s", l, text)
		}
		lines[m[1]] = m[2]
	}
	return lines, text, err
}

func TestRunChecks(t *testing.T) {
	srv := newOctiServer(t)
	closed := closedPort(t)
	tests := []struct {
		name    string
		cfg     config.Config
		want    map[string]string // check -> prefix of its result; absent checks must not run
		wantErr bool
	}{
		{
			name: "all OK",
			cfg:  testConfig(srv.URL(), testToken, "feed-1"),
			want: map[string]string{
				"opencti url": "OK (" + srv.URL() + ")", "connection": "OK (127.0.0.1 resolved to 127.0.0.1",
				"tls": "OK (not used: plain http", "token": "OK (user admin <admin@opencti.io>)",
				"graphql": "OK (OpenCTI " + octiserver.OpenCTIVersion + ")", `live stream "feed-1"`: "OK (connected, stream size 1, last event 1714557600000-0)",
			},
		},
		{
			name: "raw stream",
			cfg:  testConfig(srv.URL()+"/", testToken, ""),
			want: map[string]string{
				"opencti url": "OK", "connection": "OK", "tls": "OK", "token": "OK", "graphql": "OK",
				"live stream (raw /stream)": "OK (connected",
			},
		},
		{
			name: "bad token",
			cfg:  testConfig(srv.URL(), "wrong-token", "feed-1"),
			want: map[string]string{
				"opencti url": "OK", "connection": "OK", "tls": "OK",
				"token":                "ERROR the token is invalid: check openctibeat.opencti.token",
				"graphql":              "ERROR OpenCTI answers GraphQL only to a valid token",
				`live stream "feed-1"`: "ERROR OpenCTI answered HTTP 401 (You are not authenticated, please check your credentials)",
			},
			wantErr: true,
		},
		{
			// The token authenticates; credentials in the URL are not used
			// and never shown.
			name: "credentials in the url",
			cfg:  testConfig(strings.Replace(srv.URL(), "http://", "http://octi-user:s3cret-pass@", 1), testToken, "feed-1"),
			want: map[string]string{
				"opencti url": "OK (" + srv.URL() + "; the credentials in the URL are not used", "connection": "OK", "tls": "OK",
				"token": "OK", "graphql": "OK", `live stream "feed-1"`: "OK (connected",
			},
		},
		{
			name: "stopped stream",
			cfg:  testConfig(srv.URL(), testToken, "paused-1"),
			want: map[string]string{
				"opencti url": "OK", "connection": "OK", "tls": "OK", "token": "OK", "graphql": "OK",
				`live stream "paused-1"`: `ERROR OpenCTI answered HTTP 410 (This live stream is stopped): live stream "paused-1" is stopped; start it in OpenCTI`,
			},
			wantErr: true,
		},
		{
			name: "unknown stream",
			cfg:  testConfig(srv.URL(), testToken, "nope"),
			want: map[string]string{
				"opencti url": "OK", "connection": "OK", "tls": "OK", "token": "OK", "graphql": "OK",
				`live stream "nope"`: `ERROR OpenCTI answered HTTP 401 (You are not authorized, please check your credentials): live stream "nope" does not exist or the token's user may not read it; check openctibeat.stream.id`,
			},
			wantErr: true,
		},
		{
			name: "unreachable URL",
			cfg:  testConfig("http://"+closed, testToken, "feed-1"),
			want: map[string]string{
				"opencti url": "OK",
				"connection":  "ERROR cannot connect to " + closed,
			},
			wantErr: true,
		},
		{
			name: "unresolvable host",
			cfg:  testConfig("http://opencti.invalid:8080", testToken, "feed-1"),
			want: map[string]string{
				"opencti url": "OK",
				"connection":  "ERROR cannot resolve opencti.invalid",
			},
			wantErr: true,
		},
		{
			name:    "not a URL",
			cfg:     testConfig("opencti.example.com", testToken, "feed-1"),
			want:    map[string]string{"opencti url": `ERROR "opencti.example.com" is not an http(s) URL: set openctibeat.opencti.url`},
			wantErr: true,
		},
		{
			name: "https to a plain http port",
			cfg:  testConfig(strings.Replace(srv.URL(), "http://", "https://", 1), testToken, "feed-1"),
			want: map[string]string{
				"opencti url": "OK", "connection": "OK",
				"tls": "ERROR " + strings.TrimPrefix(srv.URL(), "http://") + " does not speak TLS",
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, text, err := run(t, tt.cfg)
			if strings.Contains(text, "octi-user") || strings.Contains(text, "s3cret-pass") {
				t.Fatalf("the output shows the URL's credentials:\n%s", text)
			}
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, errChecksFailed)) {
				t.Fatalf("err = %v, want error %v\n%s", err, tt.wantErr, text)
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("%d checks ran, want %d:\n%s", len(lines), len(tt.want), text)
			}
			for check, prefix := range tt.want {
				if got, ok := lines[check]; !ok || !strings.HasPrefix(got, prefix) {
					t.Errorf("%s... %q, want it to start with %q\n%s", check, got, prefix, text)
				}
			}
		})
	}
	// Every GraphQL document sent validated against OpenCTI's schema.
	for _, r := range srv.GraphQLRequests() {
		if len(r.ValidationErrors) > 0 {
			t.Errorf("%s: %v", r.OperationName, r.ValidationErrors)
		}
	}
}

func TestMeQueryValidates(t *testing.T) {
	if errs := octiserver.ValidateQuery(opMe); len(errs) > 0 {
		t.Fatalf("opMe does not validate against OpenCTI %s: %v", octiserver.OpenCTIVersion, errs)
	}
}

// TestRunChecksTLS puts a TLS front (httptest's certificate, for 127.0.0.1)
// before the OpenCTI test server.
func TestRunChecksTLS(t *testing.T) {
	srv := newOctiServer(t)
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	front := httptest.NewTLSServer(proxy)
	t.Cleanup(front.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	withCA := func(base string) config.Config {
		cfg := testConfig(base, testToken, "feed-1")
		cfg.OpenCTI.Transport.TLS = &tlscommon.Config{CAs: []string{caFile}}
		return cfg
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(front.URL, "https://"))
	tests := []struct {
		name    string
		cfg     config.Config
		wantTLS string
		wantErr bool
	}{
		{"trusted", withCA(front.URL), "OK (certificate verified, verification_mode full", false},
		{"unknown authority", testConfig(front.URL, testToken, "feed-1"),
			"ERROR OpenCTI's certificate is signed by an unknown authority", true},
		{"wrong host name", withCA("https://localhost:" + port),
			"ERROR OpenCTI's certificate is not valid for localhost", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, text, err := run(t, tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v\n%s", err, text)
			}
			if !strings.HasPrefix(lines["tls"], tt.wantTLS) {
				t.Fatalf("tls... %q, want %q\n%s", lines["tls"], tt.wantTLS, text)
			}
			if !tt.wantErr && !strings.HasPrefix(lines[`live stream "feed-1"`], "OK") {
				t.Fatalf("stream through TLS:\n%s", text)
			}
			if tt.wantErr && len(lines) != 3 {
				t.Fatalf("checks after a TLS failure ran:\n%s", text)
			}
		})
	}
}

// closedPort returns host:port of a port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
