package beater

import (
	"context"
	"fmt"
	"sync"

	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	"github.com/elastic/elastic-agent-libs/monitoring"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/publish"
)

// outputEngine is the engine behind output.elasticsearch, for the
// publisher's deletes and write checks; nil for other outputs.
func outputEngine(p Params, rewinds chan rewindRequest) (*publish.Engine, error) {
	if p.Output.Name() != "elasticsearch" {
		return nil, nil
	}
	out := p.Output.Config()
	dl, err := config.DeadLetterIndex(out)
	if err != nil {
		return nil, err
	}
	conn := func(name string) (*esConn, error) {
		conns, err := eslegclient.NewClients(out, "openctibeat", p.Log.Named(name))
		if err != nil || len(conns) == 0 {
			return nil, fmt.Errorf("%s: output.elasticsearch settings: %w", name, err)
		}
		return &esConn{conn: &conns[0]}, nil
	}
	deletes, err := conn("delete")
	if err != nil {
		return nil, err
	}
	checks, err := conn("write_check")
	if err != nil {
		return nil, err
	}
	index := p.Config.ECS.Index
	if p.Config.Mode == config.ModeSTIX {
		index = p.Config.STIX.Index
	}
	return &publish.Engine{
		Deletes:         deletes,
		Checks:          checks,
		Index:           index,
		DeadLetterIndex: dl,
		Refused:         outputRefusals(p.Stats),
		Rewind: func(ctx context.Context) error {
			req := rewindRequest{done: make(chan struct{})}
			select {
			case rewinds <- req:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-req.done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Now: p.Now,
	}, nil
}

// outputRefusals returns libbeat's counts of the events its output refused
// for good: written to its dead letter index, or dropped.
func outputRefusals(stats *monitoring.Registry) func() publish.Refusals {
	get := func(name string) uint64 {
		if v, ok := stats.Get(name).(*monitoring.Uint); ok {
			return v.Get()
		}
		return 0
	}
	return func() publish.Refusals {
		if stats == nil {
			return publish.Refusals{}
		}
		return publish.Refusals{DeadLetter: get("libbeat.output.events.dead_letter"), Dropped: get("libbeat.output.events.dropped")}
	}
}

// rewindRequest asks runStream to read the stream again from the saved
// position; done is closed once the tracker restarted there.
type rewindRequest struct{ done chan struct{} }

// streamRewinds is what runStream needs to serve rewinds.
type streamRewinds struct {
	requests <-chan rewindRequest
	saved    *savedPosition
}

// savedPosition is the newest position the tracker saved.
type savedPosition struct {
	mu  sync.Mutex
	pos checkpoint.Position
}

func (s *savedPosition) set(pos checkpoint.Position) {
	s.mu.Lock()
	s.pos = pos
	s.mu.Unlock()
}

func (s *savedPosition) get() checkpoint.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}
