package beater

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/esleg/eslegclient"
	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/elastic-agent-libs/monitoring"
	"github.com/elastic/elastic-agent-libs/paths"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/expiry"
	"github.com/openctibeat/openctibeat/filter"
	"github.com/openctibeat/openctibeat/mapping"
	"github.com/openctibeat/openctibeat/mapping/ecsmode"
	"github.com/openctibeat/openctibeat/mapping/stixmode"
	"github.com/openctibeat/openctibeat/opencti"
	"github.com/openctibeat/openctibeat/opencti/stream"
	"github.com/openctibeat/openctibeat/publish"
)

// Beater runs the live stream into the pipeline.
type Beater struct {
	dataPath string
	cfg      config.Config
	output   conf.Namespace
	log      *logp.Logger
	pipeline beat.PipelineConnector
	reg      *monitoring.Registry
	stats    *monitoring.Registry
	store    *checkpoint.Store

	mu     sync.Mutex
	cancel context.CancelFunc
}

var _ beat.Beater = (*Beater)(nil)

// New is the libbeat beat.Creator.
func New(b *beat.Beat, raw *conf.C) (beat.Beater, error) {
	cfg, err := config.Unpack(raw)
	if err != nil {
		return nil, err
	}
	p := b.Paths
	if p == nil {
		p = paths.Paths
	}
	reg := b.Monitoring.StatsRegistry()
	var beatReg *monitoring.Registry
	if reg != nil {
		beatReg = reg.GetOrCreateRegistry("openctibeat")
	} else {
		beatReg = monitoring.NewRegistry()
	}
	var output conf.Namespace
	if b.Config != nil {
		output = b.Config.Output
	}
	config.LastLegacyReport().Log(b.Info.Logger.Named("config"))
	// libbeat closes b.Publisher when it stops the beat, before Stop: the
	// Guard keeps what the pipeline drops then from counting as
	// acknowledged (issue #10).
	var pipeline beat.PipelineConnector
	if b.Publisher != nil {
		guard := publish.NewGuard(b.Publisher, CloseWait)
		b.Publisher, pipeline = guard, guard
	}
	return &Beater{
		dataPath: dataPath(p),
		cfg:      cfg,
		output:   output,
		log:      b.Info.Logger.Named("openctibeat"),
		pipeline: pipeline,
		reg:      beatReg,
		stats:    reg,
		store:    checkpoint.NewStore(p.Resolve(paths.Data, cfg.PositionFile)),
	}, nil
}

// CloseWait is how long stopping waits for the output to acknowledge the
// events already published, before libbeat closes its pipeline (see
// publish.Guard).
const CloseWait = time.Second

// StopTimeout bounds how long Run may take to return after Stop. Stopping
// never waits for the output (see Run), so it normally takes milliseconds;
// past StopTimeout, Run returns anyway: the position on disk then covers
// only acknowledged events, as always, and may lag the newest of them (they
// are read again at the next start).
const StopTimeout = 10 * time.Second

// Run consumes the stream until Stop.
func (bt *Beater) Run(_ *beat.Beat) error {
	ctx, cancel := context.WithCancel(context.Background())
	bt.mu.Lock()
	bt.cancel = cancel
	bt.mu.Unlock()
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Params{
			Config:   bt.cfg,
			Output:   bt.output,
			Log:      bt.log,
			Pipeline: bt.pipeline,
			Registry: bt.reg,
			Stats:    bt.stats,
			Store:    bt.store,
			DataPath: bt.dataPath,
		})
	}()
	return awaitStop(ctx, done, StopTimeout, bt.log)
}

// awaitStop returns Run's result; once ctx ends it waits at most timeout.
func awaitStop(ctx context.Context, done <-chan error, timeout time.Duration, log *logp.Logger) error {
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		log.Errorw("the beat did not stop in time; exiting without waiting further (the saved position covers only acknowledged events)",
			"stop_timeout", timeout.String())
		return nil
	}
}

// Stop ends Run.
func (bt *Beater) Stop() {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.cancel != nil {
		bt.cancel()
	}
}

// Params are the dependencies of Run.
type Params struct {
	Config config.Config
	// Output is the beat's output configuration; ecs mode's expiry talks
	// to an Elasticsearch output with the same settings.
	Output   conf.Namespace
	Log      *logp.Logger
	Pipeline beat.PipelineConnector
	Registry *monitoring.Registry
	// Stats is the beat's whole stats registry, where libbeat counts what
	// its output did (libbeat.output.events.*); nil: the output's
	// refusals are not watched.
	Stats *monitoring.Registry
	Store *checkpoint.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DataPath is the beat's path.data (the sightings module's state).
	DataPath string
}

// Run wires the stages and reads the stream until ctx ends. On return every
// position acknowledged so far has been saved.
func Run(ctx context.Context, p Params) error {
	if p.Now == nil {
		p.Now = time.Now
	}
	start, err := startPosition(p.Config.Start, p.Store, p.Log, p.Now())
	if err != nil {
		return err
	}
	saver := checkpoint.NewSaver(p.Store, p.Log.Named("checkpoint"))
	streamReg := p.Registry.GetOrCreateRegistry("stream")
	lagGauge := newLag(streamReg)
	saved := &savedPosition{pos: start}
	tracker := checkpoint.NewTracker(start, func(pos checkpoint.Position) {
		saved.set(pos)
		saver.Set(pos)
		lagGauge.acknowledged(pos)
	})
	rewinds := make(chan rewindRequest)
	engine, err := outputEngine(p, rewinds)
	if err != nil {
		return err
	}
	// ecs mode's documents are plain (see mapping/ecsmode); stix mode's are
	// OpenCTI's objects as they come, nulls included, and stay normalised.
	pub, err := publish.New(p.Pipeline, tracker, publish.NewMetrics(p.Registry.GetOrCreateRegistry("publish")),
		publish.Options{PlainFields: p.Config.Mode != config.ModeSTIX, Engine: engine, Log: p.Log.Named("publish")})
	if err != nil {
		return err
	}
	client, err := stream.New(p.Config.OpenCTI, p.Config.Stream, p.Log.Named("stream"), stream.NewMetrics(streamReg))
	if err != nil {
		return err
	}
	mapper, keeper, err := modeParts(p)
	if err != nil {
		return err
	}
	var flt *filter.Filter
	if f := filter.New(p.Config.Filter); f.Active() {
		flt = f
	}
	queued := newHandoff(pub, handoffSize)
	c := newConsumer(consumerParams{
		start:         start,
		mapper:        mapper,
		publisher:     queued,
		filter:        flt,
		filterMetrics: filter.NewMetrics(p.Registry.GetOrCreateRegistry("filter")),
		expiry:        keeper,
		lag:           lagGauge,
		log:           p.Log.Named("consumer"),
		metrics:       newMetrics(p.Registry.GetOrCreateRegistry("events")),
	})

	saverCtx, stopSaver := context.WithCancel(context.Background())
	saverDone := make(chan struct{})
	go func() { defer close(saverDone); saver.Run(saverCtx) }()
	if keeper != nil {
		go keeper.Run(ctx)
	}
	startSightings(ctx, p, p.DataPath)

	if p.Config.OpenCTI.HasUserinfo() {
		p.Log.Warnw("openctibeat.opencti.url carries credentials (user:password@); they are not used (the token authenticates every request) and are left out of requests, documents and logs: remove them from the URL",
			"url", opencti.RedactURL(p.Config.OpenCTI.URL))
	}
	p.Log.Infow("reading the OpenCTI live stream", "url", p.Config.OpenCTI.BaseURL(),
		"stream_id", p.Config.Stream.ID, "mode", p.Config.Mode, "from", start.StartFrom, "recover_until", start.RecoverUntil,
		"position_file", p.Store.Path())
	resets := make(chan checkpoint.Position, 1)
	startConnector(ctx, p, saver, start, resets)
	// Stopping does not wait for the output (issue #10). When libbeat calls
	// Stop, it has already closed the pipeline (through publish.Guard,
	// which first gave the output CloseWait to acknowledge what was
	// published); what was not acknowledged then is not counted as done and
	// is read again at the next start. So the publisher is closed as soon
	// as ctx ends: a publish waiting for room in the pipeline, which will
	// never come, returns at once, and so do the handoff queue and the
	// stream handler behind it.
	stopPublishing := context.AfterFunc(ctx, func() { _ = pub.Close() })
	defer stopPublishing()
	// A search engine that refuses the beat's writes is reported before
	// anything is read (the stream waits).
	if err = pub.WaitWritable(ctx); err == nil {
		err = runStream(ctx, client, c, queued, tracker, resets, streamRewinds{rewinds, saved}, p.Log)
	}
	// Then the publishing goroutine ends and the last acknowledged position
	// is saved.
	queued.stop()
	if cerr := pub.Close(); cerr != nil {
		p.Log.Warnw("closing the publisher", "error", cerr)
	}
	queued.wait()
	stopSaver()
	<-saverDone
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// handoffSize is how many mapped messages may wait for the publishing
// goroutine (a few hundred KB at most).
const handoffSize = 256

// runStream reads the stream until ctx ends. A position received on resets
// (an operator reset the connector's state in OpenCTI) stops the stream,
// lets the messages already handled reach the pipeline, drops what is in
// flight from the tracker, saves the new position and reads again from
// there. A rewind (the search engine accepts writes again after refusing
// them) does the same from the saved position.
func runStream(ctx context.Context, client *stream.Client, c *consumer, queued *handoff, tracker *checkpoint.Tracker, resets <-chan checkpoint.Position, rewinds streamRewinds, log *logp.Logger) error {
	for {
		streamCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- client.Run(streamCtx, c) }()
		restart := func(pos checkpoint.Position) {
			cancel()
			<-done // no message is handled past this point
			queued.drain()
			tracker.Reset(pos)
			c.reset(pos)
		}
		select {
		case err := <-done:
			cancel()
			return err
		case pos := <-resets:
			restart(pos)
			log.Warnw("the connector's state was reset in OpenCTI: reading the stream again from it",
				"start_from", pos.StartFrom, "recover_until", pos.RecoverUntil)
		case req := <-rewinds.requests:
			pos := rewinds.saved.get()
			restart(pos)
			log.Warnw("the search engine refused events and accepts writes again: reading the stream again from the saved position, so that they are written",
				"start_from", pos.StartFrom, "recover_until", pos.RecoverUntil)
			close(req.done)
		}
	}
}

// modeParts builds the mapper of the configured mode and, for ecs mode on
// an Elasticsearch output, the expiry keeper.
func modeParts(p Params) (mapping.Mapper, *expiry.Keeper, error) {
	if p.Config.Mode == config.ModeSTIX {
		return mapping.EventIDs(stixmode.New(p.Config.STIX)), nil, nil
	}
	mapper := mapping.EventIDs(ecsmode.New(p.Config.ECS.Config, p.Config.OpenCTI.BaseURL(), p.Now,
		ecsmode.WithLogger(p.Log.Named("ecs")), ecsmode.WithMetrics(ecsmode.NewMetrics(p.Registry.GetOrCreateRegistry("mapping")))))
	exp := p.Config.ECS.Expiry
	if !exp.Enabled {
		return mapper, nil, nil
	}
	if p.Output.Name() != "elasticsearch" {
		p.Log.Warnw("expiry and refresh of ecs mode need output.elasticsearch; expired indicators are removed only when their next update arrives", "output", p.Output.Name())
		return mapper, nil, nil
	}
	conns, err := eslegclient.NewClients(p.Output.Config(), "openctibeat", p.Log.Named("expiry"))
	if err != nil || len(conns) == 0 {
		return nil, nil, fmt.Errorf("ecs mode expiry: output.elasticsearch settings: %w", err)
	}
	conn := &conns[0]
	keeper := expiry.New(exp, &esConn{conn: conn}, p.Config.ECS.Index, p.Log.Named("expiry"),
		p.Registry.GetOrCreateRegistry("expiry"), p.Now)
	return mapper, keeper, nil
}

// startPosition is the saved position, or the configured start point on the
// first run. A first run's position is saved at once: with a recovery, its
// recover date must stay the same over restarts until the recovery is
// complete (a later date would skip the deletes made in between, whose
// objects the recovery no longer lists), and nothing acknowledged is
// implied by the configured start.
func startPosition(cfg config.StartConfig, store *checkpoint.Store, log *logp.Logger, now time.Time) (checkpoint.Position, error) {
	pos, ok, err := store.Load()
	if err != nil {
		return checkpoint.Position{}, err
	}
	if ok {
		log.Infow("resuming from the saved stream position", "start_from", pos.StartFrom, "recover_until", pos.RecoverUntil)
		return pos, nil
	}
	pos = firstPosition(cfg, now)
	if err := store.Save(pos); err != nil {
		return checkpoint.Position{}, fmt.Errorf("first run: cannot save the start position in %s (the beat's path.data must be writable): %w", store.Path(), err)
	}
	log.Infow("first run: starting from the configured start point", "start_from", pos.StartFrom, "recover_until", pos.RecoverUntil)
	return pos, nil
}

func firstPosition(cfg config.StartConfig, now time.Time) checkpoint.Position {
	from := cfg.From
	switch from {
	case "now":
		from = fmt.Sprintf("%d-0", now.UnixMilli())
		return checkpoint.Position{StartFrom: from}
	case "0":
		from = "0-0"
	}
	if cfg.Recover {
		return checkpoint.Position{StartFrom: from, RecoverUntil: now.UTC().Format("2006-01-02T15:04:05.000Z")}
	}
	return checkpoint.Position{StartFrom: from}
}
