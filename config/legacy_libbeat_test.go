package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elastic/beats/v7/libbeat/cfgfile"
	conf "github.com/elastic/elastic-agent-libs/config"
	"gopkg.in/yaml.v2"
)

func samplePath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(legacyDir, "config.yml.sample"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLegacyThroughCfgfileLoad: libbeat's loading path, with the override
// cmd.Settings registers, translates the old sample.
func TestLegacyThroughCfgfileLoad(t *testing.T) {
	t.Cleanup(resetLegacyReport)
	overrides := []cfgfile.ConditionalOverride{{Check: LegacyCheck(envOf(nil)), Config: conf.NewConfig()}}
	c, err := cfgfile.Load(samplePath(t), overrides)
	if err != nil {
		t.Fatal(err)
	}
	if err := LegacyError(); err != nil {
		t.Fatal(err)
	}
	cfg, err := FromRoot(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stream.ID != "live" || cfg.Start.From != "1655890657402-0" || cfg.OpenCTI.URL != "http://localhost:8080" {
		t.Fatalf("%+v", cfg)
	}
	for _, old := range []string{"opencti", "connector", "output.include_labels", "output.elasticsearch.ssl_verify", "setup.ilm.rollover_alias"} {
		if ok, _ := c.Has(old, -1); ok {
			t.Errorf("%s is still in the configuration", old)
		}
	}
}

// buildBeat builds the beat (a build failure elsewhere fails only the
// test that runs it).
func buildBeat(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "openctibeat")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/openctibeat/openctibeat").CombinedOutput(); err != nil {
		t.Fatalf("building the beat: %v\n%s", err, out)
	}
	return bin
}

// runBeat runs `openctibeat args...` with its home in a temporary
// directory and, of the old connector's variables, only env.
func runBeat(t *testing.T, bin string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	c := exec.Command(bin, append(args, "--path.home", home, "--path.data", filepath.Join(home, "data"))...)
	drop := map[string]bool{}
	for _, v := range LegacyEnvVars() {
		drop[v] = true
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			c.Env = append(c.Env, kv)
		}
	}
	for k, v := range env {
		c.Env = append(c.Env, k+"="+v)
	}
	out, err := c.CombinedOutput()
	return string(out), err
}

// TestLegacyConfigRunsUnchanged: the built beat's `test config -c
// config.yml.sample` accepts the old connector's sample as it is (libbeat
// builds the output, index management and the beater from it), also given
// as CONNECTOR_JSON_CONFIG; `export config` shows the translation; an
// invalid value stops the beat with its message and no secret.
func TestLegacyConfigRunsUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the beat")
	}
	sample := samplePath(t)
	bin := buildBeat(t)
	out, err := runBeat(t, bin, nil, "test", "config", "-c", sample)
	if err != nil || !strings.Contains(out, "Config OK") {
		t.Fatalf("test config -c config.yml.sample: %v\n%s", err, out)
	}

	raw, err := os.ReadFile(filepath.Join(legacyDir, "connector_json_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.yml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runBeat(t, bin, map[string]string{EnvJSONConfig: string(raw)}, "test", "config", "-c", empty)
	if err != nil || !strings.Contains(out, "Config OK") {
		t.Fatalf("test config with CONNECTOR_JSON_CONFIG: %v\n%s", err, out)
	}

	out, err = runBeat(t, bin, map[string]string{"ELASTICSEARCH_HOSTS": "https://es1:9200,https://es2:9200"}, "export", "config", "-c", sample)
	if err != nil {
		t.Fatalf("export config: %v\n%s", err, out)
	}
	var exported map[string]any
	if err := yaml.Unmarshal([]byte(out), &exported); err != nil {
		t.Fatalf("export config output: %v\n%s", err, out)
	}
	ob, _ := exported["openctibeat"].(map[any]any)
	stream, _ := ob["stream"].(map[any]any)
	output, _ := exported["output"].(map[any]any)
	es, _ := output["elasticsearch"].(map[any]any)
	hosts, _ := es["hosts"].([]any)
	if stream["id"] != "live" || exported["connector"] != nil || es["ssl_verify"] != nil || len(hosts) != 2 {
		t.Fatalf("export config:\n%s", out)
	}

	const secret = "s3cr3t-token"
	out, err = runBeat(t, bin, map[string]string{"CONNECTOR_CONFIDENCE_LEVEL": "5", "OPENCTI_TOKEN": secret}, "test", "config", "-c", sample)
	if err == nil || !strings.Contains(out, "CONNECTOR_CONFIDENCE_LEVEL 5 is ambiguous") || strings.Contains(out, secret) {
		t.Fatalf("test config with CONNECTOR_CONFIDENCE_LEVEL=5: %v\n%s", err, out)
	}
}
