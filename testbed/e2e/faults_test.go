//go:build integration

package e2e

import (
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/testbed/engine"
	"github.com/openctibeat/openctibeat/testbed/esproxy"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// The fault-injection suite. Its full scale (go run mage.go faults, or
// OPENCTIBEAT_FAULTS=full) is the one of issue #6; the normal test run
// uses a smaller one.
func faultScale() (indicators, kills, disconnects int) {
	if os.Getenv("OPENCTIBEAT_FAULTS") == "full" {
		return 100_000, 20, 50
	}
	return 10_000, 5, 50
}

// backfill is a stream of n indicator creates with some updates and
// deletes, for ecs mode, by four authors that are in the platform's
// database (OpenCTI sends each, with its marking, before the first
// indicator of a connection that refers to it).
func backfill(n int) []octiserver.Event {
	s := newScenario()
	byAuthor := func(i int) func(map[string]any) {
		return func(o map[string]any) { o["created_by_ref"] = "identity--" + uuidOf(7, i%4) }
	}
	for i := 0; i < n; i++ {
		pat := fmt.Sprintf("[ipv4-addr:value = '10.%d.%d.%d']", i>>16&255, i>>8&255, i&255)
		if i%7 == 0 {
			pat = fmt.Sprintf("[domain-name:value = 'd%d.example.com'] OR [url:value = 'https://d%d.example.com/x']", i, i)
		}
		s.create(ecsIndicator(i, 1, pat, byAuthor(i)))
		if i%10 == 9 {
			s.add("update", envelopeUpdate(ecsIndicator(i-5, 2, fmt.Sprintf("[ipv4-addr:value = '10.200.%d.%d']", i>>8&255, i&255), nil), ""))
		}
		if i%50 == 49 {
			s.delete(ecsIndicator(i-20, 1, fmt.Sprintf("[ipv4-addr:value = '10.%d.%d.%d']", (i-20)>>16&255, (i-20)>>8&255, (i-20)&255), nil))
		}
	}
	return s.events
}

// withoutTimestamps drops what differs between two runs of the same
// stream from a state: @timestamp (the time of writing), agent.* (the beat
// instance) and the OpenCTI test server's address in the references.
func withoutTimestamps(st map[string]map[string]any) map[string]map[string]any {
	for _, d := range st {
		delete(d, "@timestamp")
		delete(d, "agent")
		if feed, ok := get(d, "threat.feed").(map[string]any); ok {
			delete(feed, "reference")
		}
		if ind, ok := get(d, "threat.indicator").(map[string]any); ok {
			if ref, ok := ind["reference"].(string); ok {
				if i := strings.Index(ref, "/dashboard/"); i >= 0 {
					ind["reference"] = ref[i:]
				}
			}
		}
	}
	return st
}

// TestFaultKills: SIGKILLs of the beat at random points of a backfill, each
// followed by a restart, end in exactly the documents of an uninterrupted
// run: nothing lost, nothing duplicated.
func TestFaultKills(t *testing.T) {
	n, kills, _ := faultScale()
	events := backfill(n)
	last := events[len(events)-1].ID

	// The uninterrupted run.
	platform := newPlatform(0) // its markings and authors
	ref := newBedWith(t, octiserver.Options{Events: events, Objects: platform.objects})
	ro := ref.options()
	ro.mode = "ecs"
	t.Cleanup(func() { engine.DeleteIndex(t, ref.esURL, ro.ecsIndex()) })
	rp := startBeat(t, t.TempDir(), ro)
	waitPosition(t, rp, last, 10*time.Minute)
	rp.stop()
	want := withoutTimestamps(ecsState(t, ref.esURL, ro.ecsIndex()))
	if len(want) < n/2 {
		t.Fatalf("the reference run indexed only %d documents", len(want))
	}

	// The killed run.
	b := newBedWith(t, octiserver.Options{Events: events, Objects: platform.objects})
	o := b.options()
	o.mode = "ecs"
	t.Cleanup(func() { engine.DeleteIndex(t, b.esURL, o.ecsIndex()) })
	// Slow the bulks so that the backfill lasts about 3 s per kill.
	b.gate.bulkDelay.Store(int64(time.Duration(kills*3) * time.Second / time.Duration(len(events)/200+1)))
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(42))
	done := 0
	for done < kills {
		p := startBeat(t, dir, o)
		time.Sleep(time.Duration(500+rng.Intn(2500)) * time.Millisecond)
		if pos, ok := p.position(); ok && pos.StartFrom == last {
			t.Logf("the backfill completed after %d kills; restarting it from scratch is not needed", done)
			break
		}
		p.kill()
		done++
	}
	b.gate.bulkDelay.Store(0)
	p := startBeat(t, dir, o)
	waitPosition(t, p, last, 10*time.Minute)
	p.stop()
	got := withoutTimestamps(ecsState(t, b.esURL, o.ecsIndex()))
	if done < kills/2 {
		t.Fatalf("only %d of %d kills happened mid-backfill: make the backfill longer", done, kills)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after %d kills: %s", done, diffState(got, want))
	}
	t.Logf("%d kills during a backfill of %d indicators: %d documents, identical to the uninterrupted run", done, n, len(got))
}

// TestFaultEngineRestart: the search engine process is stopped for a while
// mid-stream and started again; nothing is lost.
func TestFaultEngineRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own engine")
	}
	engine.URL(t) // the suite needs the engine; this test starts its own too
	runDir := filepath.Join(os.TempDir(), fmt.Sprintf("openctibeat-e2e-restart-%d", os.Getpid()))
	script := filepath.Join("..", "..", "scripts", "opensearch.sh")
	sh := func(args ...string) string {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "OPENCTIBEAT_RUN_DIR="+runDir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("opensearch.sh %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	esURL := sh("start")
	t.Cleanup(func() { sh("stop") })

	s := mixed(4000)
	octi, err := octiserver.New(octiserver.Options{Token: token, StreamIDs: []string{"e2e"}, Events: s.events, HeartbeatInterval: time.Second, BatchTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(octi.Close)
	up, _ := url.Parse(esURL)
	g := &gate{next: esproxy.Handler(up)}
	proxy := startProxy(t, g)
	g.bulkDelay.Store(int64(40 * time.Millisecond))
	b := &bed{t: t, octi: octi, esURL: esURL, gate: g, beatES: proxy, index: uniqueIndex(t)}
	p := startBeat(t, t.TempDir(), b.options())
	eventually(t, 2*time.Minute, "some progress", func() bool { pos, ok := p.position(); return ok && pos.StartFrom != "0-0" })
	sh("pause")
	before, _ := p.position()
	time.Sleep(5 * time.Second)
	if after, _ := p.position(); after != before {
		t.Fatalf("the position moved from %+v to %+v while the engine was stopped", before, after)
	}
	if before.StartFrom == s.lastID() {
		t.Fatal("the stream was consumed before the engine stopped; nothing was tested")
	}
	sh("resume")
	g.bulkDelay.Store(0)
	b.waitState(s.want, 3*time.Minute)
	waitPosition(t, p, s.lastID(), time.Minute)
}

// TestFaultDisconnects: 50 forced disconnects while events keep coming:
// every event is received exactly once and the index is exact.
func TestFaultDisconnects(t *testing.T) {
	_, _, drops := faultScale()
	s := mixed(200)
	b := newBed(t, s.events)
	p := startBeat(t, t.TempDir(), b.options())
	next := 100000
	for i := 0; i < drops; i++ {
		// Each drop hits a new connection: the i-th reconnect opened it.
		eventually(t, 30*time.Second, "a new connection", func() bool {
			return len(b.octi.StreamRequests()) > i && b.octi.OpenStreams() > 0
		})
		from := len(s.events)
		for j := 0; j < 20; j++ {
			s.create(object("indicator", next, 1))
			if j%5 == 0 {
				s.update(object("indicator", next-3, 2))
			}
			next++
		}
		for k := range s.events[from:] {
			s.events[from+k].ID = b.octi.NextID()
		}
		b.octi.Append(s.events[from:]...)
		time.Sleep(time.Duration(20+i%5*20) * time.Millisecond)
		b.octi.DropConnections()
	}
	b.waitState(s.want, 2*time.Minute)
	waitPosition(t, p, s.events[len(s.events)-1].ID, time.Minute)
	stats := p.stats()
	checkReceived(t, stats, s.counts, drops)
	if r := stats["openctibeat.stream.reconnects_total"]; int(r) < drops {
		t.Errorf("reconnects_total = %v, want at least %d", r, drops)
	}
}

// TestTokenNeverLogged: at debug level with every selector, through a
// refused token and a normal run, the token appears in no log line.
func TestTokenNeverLogged(t *testing.T) {
	s := mixed(20)
	b := newBed(t, s.events)
	b.octi.SetFailure(401, "", 2)
	o := b.options()
	o.extra = "logging.level: debug\nlogging.selectors: [\"*\"]\n"
	p := startBeat(t, t.TempDir(), o)
	waitPosition(t, p, s.lastID(), time.Minute)
	out := p.out.String()
	if !strings.Contains(out, "HTTP 401") {
		t.Fatalf("the refused token was not reported")
	}
	if strings.Contains(out, token) {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, token) {
				t.Fatalf("the token appears in a log line: %.300s", line)
			}
		}
	}
}
