package cmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/elastic/beats/v7/libbeat/cmd/instance"
	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/elastic-agent-libs/transport"
	"github.com/elastic/elastic-agent-libs/transport/tlscommon"

	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// maxCheckTime bounds each check of `test opencti` (the transport's own
// timeout applies when shorter).
const maxCheckTime = 30 * time.Second

// opMe is the token check's query: the user the token belongs to. Kept
// here, not in opencti/api, because only this command sends it; its test
// validates it against OpenCTI's schema.
const opMe = `query OpenctibeatTestMe {
  me { id name user_email }
}`

// errChecksFailed is returned by RunChecks when a check failed.
var errChecksFailed = errors.New("OpenCTI checks failed")

// genTestOpenCTICmd is `test opencti`: it loads the configuration as `run`
// does and checks every step of the way to OpenCTI.
func genTestOpenCTICmd(settings instance.Settings) *cobra.Command {
	return &cobra.Command{
		Use:   "opencti",
		Short: "Test " + settings.Name + " can reach OpenCTI with the current settings: URL, connection, TLS, token, GraphQL and live stream",
		Run: func(cmd *cobra.Command, _ []string) {
			b, err := instance.NewInitializedBeat(settings)
			if err != nil {
				fmt.Fprintf(os.Stderr, "Error initializing beat: %s\n", err)
				os.Exit(1)
			}
			section, err := b.BeatConfig()
			if err != nil {
				fmt.Fprintf(os.Stderr, "Error reading the %s section: %s\n", config.Section, err)
				os.Exit(1)
			}
			cfg, err := config.Unpack(section)
			if err != nil {
				fmt.Fprintf(os.Stderr, "Error in the configuration: %s\n", err)
				os.Exit(1)
			}
			if err := RunChecks(cmd.Context(), cfg, cmd.OutOrStdout()); err != nil {
				fmt.Fprintf(os.Stderr, "Error: %s\n", err)
				os.Exit(1)
			}
		},
	}
}

// checker runs the checks of one configuration.
type checker struct {
	cfg     config.Config
	out     io.Writer
	base    *url.URL
	timeout time.Duration
	client  *http.Client // the beat's transport, with cfg.Transport.Timeout
	failed  []string
}

// RunChecks checks, in order, that OpenCTI's URL parses, that its host
// resolves and accepts a TCP connection, the TLS handshake (https), the
// token (the GraphQL `me` query), GraphQL (the beat's own `about` query)
// and the live stream (open it, read its `connected` event, close). It
// prints one line per check, "<check>... OK" or "<check>... ERROR <reason
// and fix>", and returns an error naming the failed checks. The token is
// never printed. A failed URL, connection or TLS check ends the run.
func RunChecks(ctx context.Context, cfg config.Config, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c := &checker{cfg: cfg, out: out, timeout: maxCheckTime}
	if t := cfg.OpenCTI.Transport.Timeout; t > 0 && t < c.timeout {
		c.timeout = t
	}
	steps := []struct {
		name  string
		run   func(context.Context) (string, error)
		fatal bool
	}{
		{"opencti url", c.checkURL, true},
		{"connection", c.checkConnection, true},
		{"tls", c.checkTLS, true},
		{"token", c.checkToken, false},
		{"graphql", c.checkGraphQL, false},
		{c.streamName(), c.checkStream, false},
	}
	for _, s := range steps {
		fmt.Fprintf(out, "%s... ", s.name)
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		detail, err := s.run(cctx)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "ERROR %s\n", err)
			c.failed = append(c.failed, s.name)
			if s.fatal {
				break
			}
			continue
		}
		if detail != "" {
			detail = " (" + detail + ")"
		}
		fmt.Fprintf(out, "OK%s\n", detail)
	}
	if len(c.failed) > 0 {
		return fmt.Errorf("%w: %s", errChecksFailed, strings.Join(c.failed, ", "))
	}
	return nil
}

func (c *checker) baseURL() string { return c.cfg.OpenCTI.BaseURL() }

// checkURL parses openctibeat.opencti.url and builds the beat's transport.
func (c *checker) checkURL(context.Context) (string, error) {
	raw := c.cfg.OpenCTI.URL
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL: set openctibeat.opencti.url (or OPENCTI_URL) to OpenCTI's base URL, e.g. https://opencti.example.com", opencti.RedactURL(raw))
	}
	c.base = u
	client, err := c.cfg.OpenCTI.Transport.Client()
	if err != nil {
		return "", fmt.Errorf("the ssl/proxy settings cannot be loaded: %v: check openctibeat.opencti.ssl.* and proxy_url", err)
	}
	c.client = client
	if c.cfg.OpenCTI.HasUserinfo() {
		return c.baseURL() + "; the credentials in the URL are not used: the token authenticates", nil
	}
	return c.baseURL(), nil
}

// checkConnection resolves the host (or the proxy's) and opens a TCP
// connection to it.
func (c *checker) checkConnection(ctx context.Context) (string, error) {
	target, via := hostPort(c.base), ""
	if proxy := c.proxyFor(); proxy != nil {
		target, via = hostPort(proxy), " through proxy "+opencti.RedactURL(proxy.String())
	}
	host, _, _ := net.SplitHostPort(target)
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return "", fmt.Errorf("cannot resolve %s%s: %v: check the host name in openctibeat.opencti.url (or this machine's DNS)", host, via, err)
	}
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return "", fmt.Errorf("cannot connect to %s%s: %v: is OpenCTI running and reachable from this machine (port in openctibeat.opencti.url, firewall)?", target, via, err)
	}
	remote := conn.RemoteAddr().String()
	_ = conn.Close()
	return fmt.Sprintf("%s resolved to %s, connected to %s%s", host, strings.Join(addrs, ", "), remote, via), nil
}

// proxyFor is the proxy the beat's transport uses for OpenCTI, if any.
func (c *checker) proxyFor() *url.URL {
	fn := c.cfg.OpenCTI.Transport.Proxy.ProxyFunc()
	if fn == nil {
		return nil
	}
	p, err := fn(&http.Request{URL: c.base, Header: http.Header{}})
	if err != nil {
		return nil
	}
	return p
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// checkTLS does the TLS handshake with OpenCTI as the beat's transport does
// (same dialer, same ssl settings); through a proxy, it makes one request
// to the base URL instead: any HTTP answer means the handshake and the
// certificate checks passed.
func (c *checker) checkTLS(ctx context.Context) (string, error) {
	if c.base.Scheme != "https" {
		return "not used: plain http, the token travels unencrypted; prefer https", nil
	}
	target := hostPort(c.base)
	var state *tls.ConnectionState
	if c.proxyFor() == nil {
		tlsCfg, err := tlscommon.LoadTLSConfig(c.cfg.OpenCTI.Transport.TLS, logp.NewNopLogger())
		if err != nil {
			return "", fmt.Errorf("the ssl settings cannot be loaded: %v: check openctibeat.opencti.ssl.*", err)
		}
		conn, err := transport.TLSDialer(transport.NetDialer(c.timeout), tlsCfg, c.timeout, logp.NewNopLogger()).DialContext(ctx, "tcp", target)
		if err != nil {
			return "", tlsProblem(target, err)
		}
		if tc, ok := conn.(*tls.Conn); ok {
			cs := tc.ConnectionState()
			state = &cs
		}
		_ = conn.Close()
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL()+"/", nil)
		if err != nil {
			return "", err
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return "", tlsProblem(target, err)
		}
		_ = resp.Body.Close()
		state = resp.TLS
	}
	return tlsDetail(c.cfg.OpenCTI.Transport.TLS, state), nil
}

// tlsDetail describes a successful handshake.
func tlsDetail(cfg *tlscommon.Config, state *tls.ConnectionState) string {
	mode := tlscommon.VerifyFull
	if cfg != nil {
		mode = cfg.VerificationMode
	}
	if mode == tlscommon.VerifyNone {
		return "WARNING openctibeat.opencti.ssl.verification_mode is none: OpenCTI's certificate is not checked"
	}
	detail := "certificate verified, verification_mode " + mode.String()
	if state != nil && len(state.PeerCertificates) > 0 {
		cert := state.PeerCertificates[0]
		detail += fmt.Sprintf(", %s, certificate of %q valid until %s", tls.VersionName(state.Version), cert.Subject.String(), cert.NotAfter.UTC().Format(time.DateOnly))
	}
	return detail
}

// tlsProblem explains a failed https request.
func tlsProblem(target string, err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("OpenCTI's certificate is signed by an unknown authority (%v): add that CA's PEM file to openctibeat.opencti.ssl.certificate_authorities", err)
	case errors.As(err, &host):
		return fmt.Errorf("OpenCTI's certificate is not valid for %s (%v): put a host name the certificate names in openctibeat.opencti.url, or fix the certificate", host.Host, err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Errorf("OpenCTI's certificate has expired or is not valid yet (%v): renew it on OpenCTI's side, or check this machine's clock", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("OpenCTI's certificate is not valid (%v): check it, or openctibeat.opencti.ssl.*", err)
	case errors.As(err, &record):
		return fmt.Errorf("%s does not speak TLS (%v): use http:// in openctibeat.opencti.url, or OpenCTI's https port", target, err)
	}
	return fmt.Errorf("https request to %s failed: %v: check openctibeat.opencti.ssl.* and proxy_url", target, err)
}

// checkToken asks OpenCTI who the token belongs to.
func (c *checker) checkToken(ctx context.Context) (string, error) {
	status, resp, err := c.graphql(ctx, "OpenctibeatTestMe", opMe)
	endpoint := opencti.RedactURL(c.baseURL() + "/graphql")
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot query %s: %v", endpoint, err)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || resp.hasCode("AUTH_REQUIRED"):
		return "", errors.New("the token is invalid: check openctibeat.opencti.token (or OPENCTI_TOKEN); it is the API token of the OpenCTI user the beat reads as (OpenCTI: profile > API access)")
	case resp == nil:
		return "", fmt.Errorf("%s answered HTTP %d without a GraphQL answer: check openctibeat.opencti.url is OpenCTI's base URL", endpoint, status)
	case len(resp.Errors) > 0:
		return "", fmt.Errorf("OpenCTI refused the query: %s", resp.messages())
	}
	var data struct {
		Me *struct {
			Name  string `json:"name"`
			Email string `json:"user_email"`
		} `json:"me"`
	}
	if err := json.Unmarshal(resp.Data, &data); err != nil || data.Me == nil {
		return "", errors.New("the token is invalid: OpenCTI knows no user for it; check openctibeat.opencti.token")
	}
	return fmt.Sprintf("user %s <%s>", data.Me.Name, data.Me.Email), nil
}

// checkGraphQL runs the beat's GraphQL client, as the connector and the
// sightings module use it.
func (c *checker) checkGraphQL(ctx context.Context) (string, error) {
	client, err := api.New(c.cfg.OpenCTI, api.WithRetry(0, time.Second, time.Second))
	if err != nil {
		return "", err
	}
	version, err := client.About(ctx)
	var ge *api.GraphQLError
	switch {
	case errors.As(err, &ge) && ge.HasCode("AUTH_REQUIRED"):
		return "", errors.New("OpenCTI answers GraphQL only to a valid token: fix the token first")
	case err != nil:
		return "", fmt.Errorf("%v: check openctibeat.opencti.url is OpenCTI's base URL", err)
	}
	return "OpenCTI " + version, nil
}

// gqlAnswer is a GraphQL response.
type gqlAnswer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (a *gqlAnswer) hasCode(code string) bool {
	if a == nil {
		return false
	}
	for _, e := range a.Errors {
		if e.Extensions["code"] == code {
			return true
		}
	}
	return false
}

func (a *gqlAnswer) messages() string {
	var out []string
	for _, e := range a.Errors {
		out = append(out, e.Message)
	}
	return strings.Join(out, "; ")
}

// graphql posts one query; the answer is nil when the body is not GraphQL.
func (c *checker) graphql(ctx context.Context, op, query string) (int, *gqlAnswer, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "operationName": op, "variables": map[string]any{}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL()+"/graphql", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.cfg.OpenCTI.Token.Reveal())
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var a gqlAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil || (a.Data == nil && a.Errors == nil) {
		return resp.StatusCode, nil, nil
	}
	return resp.StatusCode, &a, nil
}

func (c *checker) streamName() string {
	if c.cfg.Stream.ID == "" {
		return "live stream (raw /stream)"
	}
	return fmt.Sprintf("live stream %q", c.cfg.Stream.ID)
}

func (c *checker) streamURL() string {
	if c.cfg.Stream.ID == "" {
		return c.baseURL() + "/stream"
	}
	return c.baseURL() + "/stream/" + url.PathEscape(c.cfg.Stream.ID)
}

// checkStream opens the live stream, reads up to its connected event and
// closes it.
func (c *checker) checkStream(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.streamURL(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+c.cfg.OpenCTI.Token.Reveal())
	// No client timeout: the body streams; ctx bounds the check.
	resp, err := (&http.Client{Transport: c.client.Transport}).Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot open %s: %v", opencti.RedactURL(c.streamURL()), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", c.streamRefused(resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return "", fmt.Errorf("%s answered %q, not an event stream: check openctibeat.opencti.url is OpenCTI's base URL", opencti.RedactURL(c.streamURL()), ct)
	}
	data, err := readConnected(resp.Body)
	if err != nil {
		return "", fmt.Errorf("%s is not an OpenCTI live stream: %v: check openctibeat.opencti.url", opencti.RedactURL(c.streamURL()), err)
	}
	var info struct {
		LastEventID *string `json:"lastEventId"`
		StreamSize  *int64  `json:"streamSize"`
	}
	_ = json.Unmarshal(data, &info)
	detail := "connected"
	if info.StreamSize != nil {
		detail += fmt.Sprintf(", stream size %d", *info.StreamSize)
	}
	if info.LastEventID != nil {
		detail += ", last event " + *info.LastEventID
	}
	return detail, nil
}

// streamRefused explains an HTTP error of the stream with OpenCTI's reason.
func (c *checker) streamRefused(resp *http.Response) error {
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
	what := fmt.Sprintf("OpenCTI answered HTTP %d (%s)", resp.StatusCode, reason)
	name := c.streamName()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		if c.cfg.Stream.ID == "" {
			return fmt.Errorf("%s: the raw stream needs a token whose user has the BYPASS capability; check openctibeat.opencti.token, or set openctibeat.stream.id", what)
		}
		return fmt.Errorf("%s: %s does not exist or the token's user may not read it; check openctibeat.stream.id (OpenCTI: Data > Data sharing > Live streams) and openctibeat.opencti.token", what, name)
	case http.StatusNotFound:
		return fmt.Errorf("%s: no %s at %s; check openctibeat.stream.id and openctibeat.opencti.url", what, name, opencti.RedactURL(c.streamURL()))
	case http.StatusGone:
		return fmt.Errorf("%s: %s is stopped; start it in OpenCTI (Data > Data sharing > Live streams)", what, name)
	}
	return fmt.Errorf("%s for %s", what, name)
}

// readConnected reads SSE lines up to the connected event and returns its
// data.
func readConnected(body io.Reader) ([]byte, error) {
	r := bufio.NewReaderSize(body, 64<<10)
	event := ""
	var data []byte
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if event == "connected" {
				return data, nil
			}
			event, data = "", nil
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimSpace(strings.TrimPrefix(line, "data:"))...)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the stream ended before its connected event")
			}
			return nil, err
		}
	}
}
