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

	"github.com/openctibeat/openctibeat/internal/testbed/engine"
)

// TestDemo runs the README's demo as the mage target does.
func TestDemo(t *testing.T) {
	esURL := engine.URL(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "openctibeat")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/openctibeat/openctibeat").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	err := Run(context.Background(), Options{
		Beat: bin, Dir: filepath.Join(dir, "run"), EngineURL: esURL, Index: "demo-test-stix",
		Events: "../testbed/octiserver/testdata/sample-stream.jsonl", Timeout: 2 * time.Minute, Out: &out,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Cleanup(func() { engine.DeleteIndex(t, esURL, "demo-test-stix") })
	// 10 events without the inferred one: 7 creates, 1 update, 1 merge
	// (removes one malware), 1 delete: 5 objects remain.
	for _, want := range []string{"demo: 5 documents in index demo-test-stix", "indicator=1", "malware=1", "relationship=1", `"type": "indicator"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
