//go:build integration

package e2e

import (
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/openctibeat/openctibeat/stix"
	"github.com/openctibeat/openctibeat/testbed/engine"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// The stream-truth suite (issue #10): the beat against OpenCTI as it really
// streams (the test server follows the platform's sseMiddleware.js and
// redis.ts): dependency groups sharing one id, heartbeats that fire during
// a recovery, synthetic recovery ids, a trimmed stream history.

// platform is the data of an OpenCTI: a database of objects (authors,
// markings, malware, indicators, relationships from indicators to malware)
// and the stream history that made it. Trimmed, the history no longer
// reaches back to the objects' creation: only a recovery brings them.
type platform struct {
	objects []any              // in the database only (their events were trimmed long ago)
	events  []octiserver.Event // the history
	live    []liveEvent        // events that happen once the beat runs
}

// liveEvent is an event appended while the beat runs; its id is the
// server's next one.
type liveEvent struct{ name, data string }

// stamp is an OpenCTI date n seconds into 2025 (several objects share one:
// their recovered ids do too).
func stamp(n int) string {
	return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second).Format("2006-01-02T15:04:05.000Z")
}

func withOpenCTI(o map[string]any, internal, typ, updated string) map[string]any {
	o["spec_version"] = "2.1"
	o["created"], o["modified"] = updated, updated
	o["extensions"] = map[string]any{stix.OpenCTIExtension: map[string]any{
		"extension_type": "property-extension", "id": internal, "type": typ, "created_at": updated, "updated_at": updated,
	}}
	return o
}

// newPlatform builds n indicators by authors, with TLP markings and
// "indicates" relationships to malware, some indicators updated (pattern
// changes) and deleted, and a few live events for after the start.
func newPlatform(n int) *platform {
	p := &platform{}
	for _, m := range octiserver.TLPMarkings() {
		p.objects = append(p.objects, m)
	}
	author := func(i int) string { return "identity--" + uuidOf(7, i%4) }
	for i := 0; i < 4; i++ {
		p.objects = append(p.objects, withOpenCTI(map[string]any{
			"id": author(i), "type": "identity", "identity_class": "organization", "name": fmt.Sprintf("Author %d", i),
			"object_marking_refs": []any{"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"},
		}, uuidOf(6, i), "Organization", stamp(0)))
	}
	malware := func(i int) string { return "malware--" + uuidOf(5, i%(n/20+1)) }
	for i := 0; i <= n/20; i++ {
		p.objects = append(p.objects, withOpenCTI(map[string]any{
			"id": malware(i), "type": "malware", "name": fmt.Sprintf("Malware %d", i), "is_family": true,
			"created_by_ref": author(i + 1),
		}, uuidOf(4, i), "Malware", stamp(1)))
	}
	s := newScenario()
	indicator := func(i, v int, pat string) map[string]any {
		o := withOpenCTI(map[string]any{
			"id": "indicator--" + uuidOf(2, i), "type": "indicator", "name": fmt.Sprintf("indicator %d v%d", i, v),
			"pattern": pat, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00.000Z",
			"created_by_ref":      author(i),
			"object_marking_refs": []any{"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"},
			"labels":              []any{"truth"}, "confidence": float64(60 + v),
		}, uuidOf(1, i), "Indicator", stamp(10+i/3+v*100000))
		return o
	}
	pattern := func(i, v int) string {
		if i%7 == 0 {
			return fmt.Sprintf("[domain-name:value = 'd%d-v%d.example.com'] OR [ipv4-addr:value = '10.9.%d.%d']", i, v, i>>8&255, i&255)
		}
		return fmt.Sprintf("[ipv4-addr:value = '10.%d.%d.%d']", v, i>>8&255, i&255)
	}
	for i := 0; i < n; i++ {
		s.create(indicator(i, 1, pattern(i, 1)))
		if i%3 == 0 {
			rel := withOpenCTI(map[string]any{
				"id": "relationship--" + uuidOf(3, i), "type": "relationship", "relationship_type": "indicates",
				"source_ref": "indicator--" + uuidOf(2, i), "target_ref": malware(i), "created_by_ref": author(i),
			}, uuidOf(8, i), "indicates", stamp(10+i/3))
			s.create(rel)
		}
		if i%10 == 9 {
			j := i - 5
			s.add("update", envelopeUpdate(indicator(j, 2, pattern(j, 2)), pattern(j, 1)))
		}
		if i%25 == 24 {
			s.delete(indicator(i-12, 1, pattern(i-12, 1)))
		}
	}
	p.events = s.events
	// Live: new indicators and an update, after the recover date (their
	// updated_at is in the future, as the platform would stamp them).
	for i := n; i < n+5; i++ {
		o := indicator(i, 1, pattern(i, 1))
		o["extensions"].(map[string]any)[stix.OpenCTIExtension].(map[string]any)["updated_at"] = "2099-01-01T00:00:00.000Z"
		p.live = append(p.live, liveEvent{"create", octiserver.Envelope("create", o, nil)})
	}
	up := indicator(1, 3, pattern(1, 3))
	up["extensions"].(map[string]any)[stix.OpenCTIExtension].(map[string]any)["updated_at"] = "2099-01-01T00:00:01.000Z"
	p.live = append(p.live, liveEvent{"update", envelopeUpdate(up, pattern(1, 1))})
	return p
}

// appendLive adds the live events to a server and returns the last id.
func (p *platform) appendLive(octi *octiserver.Server) string {
	var last string
	for _, e := range p.live {
		last = octi.NextID()
		octi.Append(octiserver.Event{ID: last, Name: e.name, Data: e.data})
	}
	return last
}

// bedFor serves p: its objects in the database, its history trimmed to its
// last keep events (keep < 0: untrimmed).
func bedFor(t *testing.T, p *platform, keep int, opts octiserver.Options) *bed {
	opts.Events, opts.Objects = p.events, p.objects
	b := newBedWith(t, opts)
	if keep >= 0 {
		b.octi.Trim(keep)
	}
	return b
}

// stateOf is the comparable state of a run's index.
func stateOf(t *testing.T, b *bed, o beatOptions) map[string]map[string]any {
	if o.mode == "ecs" {
		return withoutTimestamps(ecsState(t, b.esURL, o.ecsIndex()))
	}
	return withoutTimestamps(indexState(t, b.esURL, b.index))
}

func truthScale() (indicators, kills int) {
	if os.Getenv("OPENCTIBEAT_FAULTS") == "full" {
		return 10_000, 20
	}
	return 1_200, 20
}

// TestFaultRecoveryKills: a first run recovers a platform whose history
// was trimmed (only the recovery brings the objects), slowly, with
// heartbeats firing during the recovery and dependency groups on; kill -9
// at 20 random points of the recovery, each followed by a restart, ends in
// exactly the documents of an uninterrupted run; every restart recovers
// again from the original start with the same recover date.
func TestFaultRecoveryKills(t *testing.T) {
	n, kills := truthScale()
	p := newPlatform(n)
	// A slow platform: 20 objects a page, 3 ms between pages and after
	// each dependency; heartbeats every 50 ms.
	slow := octiserver.Options{HeartbeatInterval: 50 * time.Millisecond, Delay: 3 * time.Millisecond, RecoveryPageSize: 20}
	for _, mode := range []string{"ecs", "stix"} {
		t.Run(mode, func(t *testing.T) {
			// The uninterrupted run.
			ref := bedFor(t, p, 60, slow)
			ro := ref.options()
			ro.mode, ro.recover = mode, true
			t.Cleanup(func() { engine.DeleteIndex(t, ref.esURL, ro.ecsIndex()) })
			rp := startBeat(t, t.TempDir(), ro)
			eventually(t, time.Minute, "the recovery to start", func() bool { return len(ref.octi.StreamRequests()) > 0 })
			started := time.Now()
			last := p.appendLive(ref.octi)
			eventually(t, 10*time.Minute, "the recovery to complete", func() bool { return ref.octi.StreamRequests()[0].RecoveryDone })
			recovery := time.Since(started)
			recoverySent := ref.octi.StreamRequests()[0].Sent // messages of the recovery (and perhaps a few after)
			waitPosition(t, rp, last, 10*time.Minute)
			rp.stop()
			want := stateOf(t, ref, ro)
			if len(want) < n/2 {
				t.Fatalf("the reference run indexed only %d documents", len(want))
			}

			// The killed run.
			b := bedFor(t, p, 60, slow)
			o := b.options()
			o.mode, o.recover = mode, true
			t.Cleanup(func() { engine.DeleteIndex(t, b.esURL, o.ecsIndex()) })
			dir := t.TempDir()
			rng := rand.New(rand.NewSource(int64(len(mode))))
			lastLive := ""
			recovering := 0
			for k := 0; k < kills; k++ {
				before := len(b.octi.StreamRequests())
				bp := startBeat(t, dir, o)
				eventually(t, time.Minute, "the recovery to start", func() bool { return len(b.octi.StreamRequests()) > before })
				if k == 0 {
					lastLive = p.appendLive(b.octi)
				}
				// A random point of the recovery: after a random number of
				// the messages the uninterrupted run's recovery sent.
				at := 1 + rng.Intn(recoverySent*9/10)
				eventually(t, time.Minute, "the kill point", func() bool {
					r := b.octi.StreamRequests()
					return r[len(r)-1].Sent >= at || r[len(r)-1].RecoveryDone
				})
				bp.kill()
				if r := b.octi.StreamRequests(); r[len(r)-1].RecoverID != "" && !r[len(r)-1].RecoveryDone {
					recovering++ // killed before the platform finished the recovery
				}
			}
			if recovering < kills/2 {
				t.Fatalf("only %d of %d kills happened during the recovery: make it slower", recovering, kills)
			}
			// A connection after one killed during its recovery recovers
			// again, from the start, with the first run's date.
			reqs := b.octi.StreamRequests()
			for i := 1; i < len(reqs); i++ {
				prev, r := reqs[i-1], reqs[i]
				if prev.RecoverID == "" || prev.RecoveryDone {
					continue
				}
				if r.RecoverID != reqs[0].RecoverID || r.StartID != "0-0" {
					t.Errorf("connection %d, after a recovery cut short, started from %q recovering to %q, want from 0-0 to %s",
						i, r.StartID, r.RecoverID, reqs[0].RecoverID)
				}
			}
			bp := startBeat(t, dir, o)
			waitPosition(t, bp, lastLive, 10*time.Minute)
			bp.stop()
			got := stateOf(t, b, o)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("after %d kills during the recovery: %s", kills, diffState(got, want))
			}
			t.Logf("%s: %d kills (%d during the recovery) in a recovery of %s (%d messages, %d objects, %d documents, %d connections): identical to the uninterrupted run",
				mode, kills, recovering, recovery.Round(time.Millisecond), recoverySent, len(b.octi.Objects()), len(got), len(reqs)+1)
		})
	}
}

// TestFaultGroupCuts: the connection is cut after each message k of an
// uninterrupted stream with dependency groups (after the first message of
// a group, in its middle, before its event, after it); each run ends in
// exactly the documents of the uninterrupted run.
func TestFaultGroupCuts(t *testing.T) {
	p := newPlatform(12)
	for _, mode := range []string{"ecs", "stix"} {
		t.Run(mode, func(t *testing.T) {
			ref := bedFor(t, p, -1, octiserver.Options{})
			ro := ref.options()
			ro.mode = mode
			t.Cleanup(func() { engine.DeleteIndex(t, ref.esURL, ro.ecsIndex()) })
			last := ref.octi.History()[len(ref.octi.History())-1].ID
			rp := startBeat(t, t.TempDir(), ro)
			waitPosition(t, rp, last, 2*time.Minute)
			rp.stop()
			want := stateOf(t, ref, ro)
			sent := ref.octi.StreamRequests()[0].Sent
			if sent <= len(p.events) {
				t.Fatalf("the stream had no dependency groups (%d messages for %d events)", sent, len(p.events))
			}
			for k := 1; k < sent; k++ {
				t.Run(fmt.Sprint(k), func(t *testing.T) {
					t.Parallel()
					b := bedFor(t, p, -1, octiserver.Options{})
					o := b.options()
					o.mode = mode
					t.Cleanup(func() { engine.DeleteIndex(t, b.esURL, o.ecsIndex()) })
					b.octi.DropAfter(k)
					bp := startBeat(t, t.TempDir(), o)
					waitPosition(t, bp, last, 2*time.Minute)
					bp.stop()
					if got := stateOf(t, b, o); !reflect.DeepEqual(got, want) {
						r := b.octi.StreamRequests()
						t.Fatalf("cut after message %d of %d (resumed with Last-Event-ID %q): %s", k, sent, r[len(r)-1].LastEventID, diffState(got, want))
					}
				})
			}
		})
	}
}
