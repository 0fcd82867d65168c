//go:build integration

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopWithOutputDown: a SIGTERM while the output is unreachable or
// silent and every queue is full ends the process within a bounded time
// (issue #10: it hung for ever), and the saved position does not pass the
// events the output never acknowledged. 60 s is a hang detector, not a
// performance figure: the stop takes about a second.
func TestStopWithOutputDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(*gate)
	}{
		{"silent", func(g *gate) { g.silent.Store(true) }},
		{"unreachable", func(g *gate) { g.down.Store(true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mixed(3000)
			b := newBed(t, s.events)
			b.gate.bulkDelay.Store(int64(50 * time.Millisecond))
			o := b.options()
			// A small queue, filled quickly once the output stops answering.
			o.extra = "queue.mem.events: 800\nqueue.mem.flush.min_events: 200\n"
			p := startBeat(t, t.TempDir(), o)
			eventually(t, 2*time.Minute, "some progress", func() bool { _, ok := p.position(); return ok })
			tc.down(b.gate)

			// Wait until nothing moves any more: the queues are full and
			// nothing is acknowledged.
			var before any
			stable := 0
			eventually(t, 2*time.Minute, "the pipeline to fill up", func() bool {
				pos, _ := p.position()
				cur := [2]any{pos, p.stats()["openctibeat.publish.published_total"]}
				if cur == before {
					stable++
				} else {
					stable, before = 0, cur
				}
				return stable >= 30 // 3 s
			})
			saved, _ := p.position()
			if saved.StartFrom == s.lastID() {
				t.Fatal("the stream was consumed before the output went down; nothing was tested")
			}

			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			sent := time.Now()
			select {
			case <-p.done:
				t.Logf("the beat exited %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
			case <-time.After(60 * time.Second):
				// The goroutines' stacks go to the beat's output, shown on failure.
				_ = p.cmd.Process.Signal(syscall.SIGQUIT)
				<-p.done
				t.Fatal("the beat did not exit within 60 s of SIGTERM")
			}
			if after, _ := p.position(); after != saved {
				t.Fatalf("the saved position moved from %+v to %+v while the output acknowledged nothing", saved, after)
			}
			// It stopped by itself, not by the stop timeout's safety net.
			if strings.Contains(p.out.String(), "did not stop in time") {
				t.Fatal("the beat stopped only at its stop timeout")
			}
		})
	}
}
