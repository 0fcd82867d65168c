package opencti

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/elastic/elastic-agent-libs/transport/httpcommon"
)

// Config is how to reach OpenCTI.
type Config struct {
	// URL is OpenCTI's base URL, e.g. https://opencti.example.com.
	URL string `config:"url"`
	// Token is the API token of the OpenCTI user the beat acts as.
	Token Secret `config:"token"`
	// Transport holds ssl.*, proxy_url and timeout.
	Transport httpcommon.HTTPTransportSettings `config:",inline"`
}

// DefaultConfig returns the connection defaults (TLS verification on).
func DefaultConfig() Config {
	return Config{Transport: httpcommon.DefaultHTTPTransportSettings()}
}

// Validate names the key to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("openctibeat.opencti.url is empty: set it (or OPENCTI_URL) to OpenCTI's base URL, e.g. https://opencti.example.com"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("openctibeat.opencti.url %q is not an http(s) URL: set it to OpenCTI's base URL, e.g. https://opencti.example.com", RedactURL(c.URL)))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("openctibeat.opencti.token is empty: set it (or OPENCTI_TOKEN) to the API token of the OpenCTI user the beat reads as, preferably from the keystore as ${OPENCTI_TOKEN}"))
	}
	if c.Transport.Timeout <= 0 {
		// Zero would mean no limit: a hung OpenCTI would hold a GraphQL
		// call (sightings, connector pings) forever.
		errs = append(errs, fmt.Errorf("openctibeat.opencti.timeout is %s: set a positive duration (default 90s); it bounds connecting to OpenCTI and each GraphQL request", c.Transport.Timeout))
	}
	return errors.Join(errs...)
}

// BaseURL is the URL without userinfo and without a trailing slash: what
// requests, document links and messages use. Credentials in the URL
// (https://user:pass@host) are never used: every request carries the
// token in its Authorization header, and Go's HTTP client turns URL
// userinfo into basic authentication only when there is none. Left in,
// they would only end up in documents (threat.*.reference) and error
// messages.
func (c *Config) BaseURL() string { return strings.TrimRight(withoutUserinfo(c.URL), "/") }

// HasUserinfo tells whether the URL carries credentials (user:pass@), which
// BaseURL leaves out.
func (c *Config) HasUserinfo() bool {
	u, err := url.Parse(c.URL)
	return err == nil && u.User != nil
}

// withoutUserinfo returns raw without its userinfo (user:pass@); raw
// unchanged when it has none or does not parse.
func withoutUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// RedactURL removes credentials from a URL for logging.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	return u.String()
}
