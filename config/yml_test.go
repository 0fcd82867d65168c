package config

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	conf "github.com/elastic/elastic-agent-libs/config"
)

// TestReferenceConfig: opencti-beat.yml is generated from the template
// (go run mage.go config) and its openctibeat section unpacks, with
// OPENCTI_URL and OPENCTI_TOKEN set, to the defaults.
func TestReferenceConfig(t *testing.T) {
	tmpl, err := os.ReadFile("../_meta/config/beat.yml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile("../opencti-beat.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tmpl, ref) {
		t.Fatal("opencti-beat.yml differs from _meta/config/beat.yml.tmpl: run go run mage.go config")
	}
	t.Setenv("OPENCTI_URL", "https://opencti.example.com")
	t.Setenv("OPENCTI_TOKEN", "0b9a1d3c-7e1f-4c55-9a43-2f1e8d6c5b4a")
	root, err := conf.NewConfigWithYAML(ref, "opencti-beat.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Mode != d.Mode || c.ECS != d.ECS || c.STIX != d.STIX || c.Start != d.Start || c.Stream.IdleTimeout != d.Stream.IdleTimeout ||
		c.Stream.ListenDelete != d.Stream.ListenDelete || c.Stream.MaxEventSize != d.Stream.MaxEventSize || c.Stream.Backoff != d.Stream.Backoff {
		t.Fatalf("the reference configuration is not the defaults:\n%+v\n%+v", c, d)
	}
	if c.Connector != d.Connector || !reflect.DeepEqual(c.Filter, d.Filter) || !reflect.DeepEqual(c.Sightings, d.Sightings) {
		t.Fatalf("connector, filter or sightings of the reference configuration are not the defaults:\n%+v %+v %+v\n%+v %+v %+v",
			c.Connector, c.Filter, c.Sightings, d.Connector, d.Filter, d.Sightings)
	}
	if c.OpenCTI.URL != "https://opencti.example.com" || c.OpenCTI.Token.Reveal() != "0b9a1d3c-7e1f-4c55-9a43-2f1e8d6c5b4a" {
		t.Fatalf("environment not read: %q", c.OpenCTI.URL)
	}
}
