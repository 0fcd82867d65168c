//go:build integration

package demo

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/testbed/engine"
)

// TestDemo runs the README's demo as the mage target does, in both modes.
func TestDemo(t *testing.T) {
	esURL := engine.URL(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "openctibeat")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/openctibeat/openctibeat").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tests := []struct {
		mode, index string
		want        []string
	}{
		// The sample's two indicators are expired and revoked: only the six
		// current indicators the demo adds remain, one document each.
		{"ecs", "logs-ti_demotest.indicator-default", []string{
			"demo: 6 documents in index logs-ti_demotest.indicator-default",
			"ipv4-addr=1", "domain-name=1", "url=1", "file=1", "email-addr=1", "windows-registry-key=1",
			`"ip": "203.0.113.66"`,
		}},
		// stix mode: 7 creates, 1 update, 1 merge (removes one malware),
		// 1 delete of the sample leave 5 objects, plus the 6 indicators,
		// plus what OpenCTI sends before the events that refer to it: the
		// author, two TLP markings, the sighting's place, the
		// relationship's actor and grouping.
		{"stix", "demo-test-stix", []string{"demo: 17 documents in index demo-test-stix", "indicator=7", "malware=1", "relationship=1", "identity=1", "marking-definition=2", `"type": "indicator"`}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			var out bytes.Buffer
			t.Cleanup(func() { engine.DeleteIndex(t, esURL, tt.index) })
			err := Run(context.Background(), Options{
				Beat: bin, Dir: filepath.Join(dir, tt.mode), EngineURL: esURL, Mode: tt.mode, Index: tt.index,
				Events: "../octiserver/testdata/sample-stream.jsonl", Objects: "../octiserver/testdata/sample-objects.json", Timeout: 2 * time.Minute, Out: &out,
			})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}
