package pattern

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// indicator is what the bundle test needs of a STIX indicator.
type indicator struct {
	ID          string
	Pattern     string
	PatternType string
}

// findIndicators collects the indicators anywhere in a decoded JSON
// document (bundles, arrays of stream-event objects, ...).
func findIndicators(v any, out *[]indicator) {
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "indicator" {
			in := indicator{}
			in.ID, _ = v["id"].(string)
			in.Pattern, _ = v["pattern"].(string)
			in.PatternType, _ = v["pattern_type"].(string)
			*out = append(*out, in)
		}
		for _, x := range v {
			findIndicators(x, out)
		}
	case []any:
		for _, x := range v {
			findIndicators(x, out)
		}
	}
}

// TestBundlePatterns parses every pattern of every indicator of
// testdata/bundles (see its README.md): all must parse and round-trip.
func TestBundlePatterns(t *testing.T) {
	root := filepath.Join("testdata", "bundles")
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		name, _ := filepath.Rel(root, f)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			var inds []indicator
			findIndicators(doc, &inds)
			if len(inds) == 0 {
				t.Fatal("no indicator: only files with indicators belong in testdata/bundles")
			}
			for _, in := range inds {
				if in.PatternType != "" && in.PatternType != "stix" {
					continue
				}
				total++
				p, err := Parse(in.Pattern)
				if err != nil {
					t.Errorf("%s: %v", in.ID, err)
					continue
				}
				checkRoundTrip(t, in.Pattern, p)
				if _, err := p.Observables(); err != nil {
					t.Errorf("%s: Observables: %v", in.ID, err)
				}
			}
		})
	}
	// The README counts 44 indicators; a smaller number means the walk
	// above went wrong.
	if total != 44 {
		t.Errorf("parsed %d indicator patterns, want 44", total)
	}
}

// TestStreamEventIndicators checks the indicators as they come in OpenCTI
// live-stream events, including what Observables makes of them.
func TestStreamEventIndicators(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "bundles", "opencti", "stream-event-stix2-indicators.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var inds []indicator
	findIndicators(doc, &inds)
	want := map[string]string{
		"[domain-name:value = 'www.xolod-teplo.ru']":                                                   "domain-name value=www.xolod-teplo.ru",
		"[file:hashes.'SHA-256' = '2a0169c72c84e6d3fa49af701fd46ee7aaf1d1d9e107798d93a6ca8df5d25957']": "file hashes.SHA-256=2a0169c72c84e6d3fa49af701fd46ee7aaf1d1d9e107798d93a6ca8df5d25957",
	}
	if len(inds) != len(want) {
		t.Fatalf("found %d indicators, want %d", len(inds), len(want))
	}
	for _, in := range inds {
		t.Run(in.ID, func(t *testing.T) {
			p, err := Parse(in.Pattern)
			if err != nil {
				t.Fatal(err)
			}
			obs, err := p.Observables()
			if err != nil {
				t.Fatal(err)
			}
			if got := formatObservables(obs); len(got) != 1 || got[0] != want[in.Pattern] {
				t.Errorf("Observables(%q) = %q, want [%q]", in.Pattern, got, want[in.Pattern])
			}
		})
	}
}
