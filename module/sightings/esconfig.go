package sightings

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/elastic/beats/v7/libbeat/common"
	"github.com/elastic/beats/v7/libbeat/outputs"
	eso "github.com/elastic/beats/v7/libbeat/outputs/elasticsearch"
	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/go-elasticsearch/v8"
)

var errNoHosts = errors.New("no hosts")

// ESConfigFromOutput builds a go-elasticsearch configuration from libbeat's
// output.elasticsearch settings (or the module's own elasticsearch section,
// which has the same keys): hosts (with protocol and path), api_key
// ("id:key", as libbeat takes it), username/password, headers, and the
// transport settings ssl.* (certificate_authorities, verification_mode,
// certificate, key, ...), proxy_url and timeout. libbeat has already turned
// cloud.id and cloud.auth into hosts, username and password.
func ESConfigFromOutput(out *conf.C) (elasticsearch.Config, error) {
	if out == nil {
		return elasticsearch.Config{}, errors.New("elasticsearch settings: none given")
	}
	settings := eso.ElasticsearchConfig{Transport: eso.ESDefaultTransportSettings()}
	if err := out.Unpack(&settings); err != nil {
		return elasticsearch.Config{}, fmt.Errorf("elasticsearch settings: %w", err)
	}
	hosts, err := outputs.ReadHostList(out)
	if err != nil || len(hosts) == 0 {
		if err != nil {
			return elasticsearch.Config{}, fmt.Errorf("elasticsearch settings: %w (%v): set hosts (or cloud.id)", errNoHosts, err)
		}
		return elasticsearch.Config{}, fmt.Errorf("elasticsearch settings: %w: set hosts (or cloud.id)", errNoHosts)
	}
	var addrs []string
	seen := map[string]bool{}
	for _, h := range hosts {
		u, err := common.MakeURL(settings.Protocol, settings.Path, h, 9200)
		if err != nil {
			return elasticsearch.Config{}, fmt.Errorf("elasticsearch host %q: %w", h, err)
		}
		if !seen[u] { // libbeat repeats hosts once per worker
			seen[u] = true
			addrs = append(addrs, u)
		}
	}
	rt, err := settings.Transport.RoundTripper()
	if err != nil {
		return elasticsearch.Config{}, fmt.Errorf("elasticsearch ssl/proxy settings: %w", err)
	}
	cfg := elasticsearch.Config{
		Addresses: addrs,
		Username:  settings.Username,
		Password:  settings.Password,
		Transport: rt,
	}
	if k := strings.TrimSpace(settings.APIKey); k != "" {
		cfg.APIKey = base64.StdEncoding.EncodeToString([]byte(k))
		cfg.Username, cfg.Password = "", ""
	}
	if len(settings.Headers) > 0 {
		cfg.Header = map[string][]string{}
		for k, v := range settings.Headers {
			cfg.Header.Set(k, v)
		}
	}
	return cfg, nil
}

// hasHosts reports whether c (the module's own elasticsearch section) sets
// hosts.
func hasHosts(c *conf.C) bool {
	if c == nil {
		return false
	}
	hosts, err := outputs.ReadHostList(c)
	return err == nil && len(hosts) > 0
}
