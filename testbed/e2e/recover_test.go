//go:build integration

package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// TestRecoverFirstRun: the default first run replays the current state of
// every object (OpenCTI's recover mode), then tails; the position leaves
// the recovery only once the stream tails, and a restart resumes without
// recovering again.
func TestRecoverFirstRun(t *testing.T) {
	s := mixed(200)
	b := newBed(t, s.events)
	o := b.options()
	o.recover = true
	dir := t.TempDir()
	p := startBeat(t, dir, o)
	b.waitState(s.want, 90*time.Second)
	eventually(t, 30*time.Second, "the recovery to complete", func() bool {
		pos, ok := p.position()
		return ok && pos.RecoverUntil == "" && pos.StartFrom != ""
	})
	reqs := b.octi.StreamRequests()
	if reqs[0].Recover == "" || reqs[0].Recovered == 0 {
		t.Fatalf("the first run did not recover: %+v", reqs[0])
	}

	// Live events after the recovery are indexed.
	n := newScenario()
	n.want = s.want
	var live []octiserver.Event
	for i := 0; i < 5; i++ {
		o := object("indicator", 900+i, 1)
		n.want[docID(o)] = normalized(o)
		live = append(live, octiserver.Event{ID: b.octi.NextID(), Name: "create", Data: octiserver.Envelope("create", o, nil)})
		b.octi.Append(live[len(live)-1])
	}
	b.waitState(n.want, 60*time.Second)
	waitPosition(t, p, live[len(live)-1].ID, 30*time.Second)
	p.stop()

	before := len(b.octi.StreamRequests())
	p2 := startBeat(t, dir, o)
	eventually(t, 30*time.Second, "the restart to connect", func() bool { return len(b.octi.StreamRequests()) > before })
	r := b.octi.StreamRequests()[before]
	if r.Recover != "" || r.LastEventID != live[len(live)-1].ID {
		t.Fatalf("restart request %+v: want no recovery and Last-Event-ID %s", r, live[len(live)-1].ID)
	}
	p2.stop()
}

// TestCommands: libbeat's commands work on the beat: test config reports a
// missing setting clearly, setup installs the index template, export prints
// it.
func TestCommands(t *testing.T) {
	b := newBed(t, nil)
	dir := t.TempDir()
	o := b.options()
	writeConfig(t, dir, o, freePort(t))
	run := func(args ...string) (string, error) {
		cmd := exec.Command(beatBinary, append(args, "--path.home", dir, "--path.config", dir, "--path.data", dir+"/data")...)
		cmd.Env = beatEnv()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("test", "config"); err != nil || !strings.Contains(out, "Config OK") {
		t.Fatalf("test config: %v\n%s", err, out)
	}
	if out, err := run("setup", "--index-management"); err != nil || !strings.Contains(out, "Index setup finished") {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	if code, body := getJSON(t, b.esURL+"/_index_template/"+b.index); code != 200 || !strings.Contains(body, `"managed_by":"openctibeat"`) {
		t.Fatalf("setup did not install the template: %d %s", code, body)
	}
	if out, err := run("export", "template", "--es.version", "8.19.0"); err != nil || !strings.Contains(out, `"index_patterns"`) || !strings.Contains(out, b.index) {
		t.Fatalf("export template: %v\n%s", err, out)
	}
	if out, err := run("test", "output"); err != nil || !strings.Contains(out, "talk to server... OK") {
		t.Fatalf("test output: %v\n%s", err, out)
	}
	// A bad token never reaches the output; a missing URL is named.
	o.openctiURL = ""
	writeConfig(t, dir, o, freePort(t))
	out, err := run("test", "config")
	if err == nil || !strings.Contains(out, "openctibeat.opencti.url is empty") || !strings.Contains(out, "OPENCTI_URL") {
		t.Fatalf("test config with no url: %v\n%s", err, out)
	}
	if strings.Contains(out, token) {
		t.Fatal("the token is printed")
	}
}
