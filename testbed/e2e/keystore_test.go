//go:build integration

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeystoreToken: the OpenCTI token comes from the beat's keystore
// (openctibeat keystore add OPENCTI_TOKEN), referenced as ${OPENCTI_TOKEN},
// and appears in no log line; the stats show the stream caught up (lag 0)
// and every published document acknowledged.
func TestKeystoreToken(t *testing.T) {
	s := mixed(30)
	b := newBed(t, s.events)
	dir := t.TempDir()
	o := b.options()
	o.token = "${OPENCTI_TOKEN}"
	run := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(beatBinary, append(args, "--path.home", dir, "--path.config", dir, "--path.data", filepath.Join(dir, "data"))...)
		cmd.Env = beatEnv()
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	writeConfig(t, dir, o, freePort(t))
	run("", "keystore", "create", "--force")
	run(token, "keystore", "add", "OPENCTI_TOKEN", "--stdin", "--force")
	p := startBeat(t, dir, o)
	waitPosition(t, p, s.lastID(), time.Minute)
	b.waitState(s.want, time.Minute)
	for _, r := range b.octi.StreamRequests() {
		if !r.AuthOK {
			t.Fatalf("a stream request was refused: the token from the keystore was not used")
		}
	}
	eventually(t, 20*time.Second, "lag 0 and every document acknowledged", func() bool {
		st := p.stats()
		lag, ok := st["openctibeat.stream.lag_seconds"]
		return ok && lag == 0 && st["openctibeat.publish.acked_total"] == st["openctibeat.publish.published_total"] &&
			st["openctibeat.publish.published_total"] > 0
	})
	if strings.Contains(p.out.String(), token) {
		t.Fatal("the token appears in the beat's output")
	}
}
