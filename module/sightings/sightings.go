package sightings

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/elastic/elastic-agent-libs/logp"
	"github.com/elastic/elastic-agent-libs/monitoring"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/google/uuid"

	"github.com/openctibeat/openctibeat/internal/ctxsleep"
	"github.com/openctibeat/openctibeat/module/sightings/alerts"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// OpenCTI is what the module asks of OpenCTI; *api.Client provides it.
type OpenCTI interface {
	Indicator(ctx context.Context, id string) (*api.Indicator, error)
	SearchIndicators(ctx context.Context, search string, first int) ([]api.Indicator, error)
	EnsureIdentity(ctx context.Context, in api.IdentityInput) (api.Identity, error)
	Sighting(ctx context.Context, id string) (*api.Sighting, error)
	AddSighting(ctx context.Context, in api.SightingInput) (api.Sighting, error)
}

var _ OpenCTI = (*api.Client)(nil)

// alertSource pages through alerts and fetches indicator documents;
// *alerts.Reader provides it.
type alertSource interface {
	Page(ctx context.Context, q alerts.Query) ([]alerts.Hit, error)
	docSource
}

// Params are the module's dependencies.
type Params struct {
	// Config is the validated module configuration.
	Config Config
	// OpenCTI is the GraphQL client.
	OpenCTI OpenCTI
	// Elasticsearch reads the alerts; when nil, ESConfig is used to build a
	// client. Config.Elasticsearch, when it sets hosts, wins over both.
	Elasticsearch *elasticsearch.Client
	ESConfig      *elasticsearch.Config
	// DataPath is the beat's data directory (path.data); the state file is
	// Config.StateFile under it.
	DataPath string
	Logger   *logp.Logger
	// Registry receives the module's metrics (nil: none).
	Registry *monitoring.Registry
	// Clock gives the current time (default time.Now).
	Clock func() time.Time

	// source replaces the Elasticsearch reader in tests.
	source alertSource
}

// Module polls indicator-match alerts and turns them into OpenCTI sightings.
type Module struct {
	cfg        Config
	octi       OpenCTI
	src        alertSource
	resolve    *resolver
	store      *stateStore
	state      State
	log        *logp.Logger
	metrics    *metrics
	now        func() time.Time
	marking    string
	identity   *api.Identity
	identityID string // deterministic STIX id of the identity
	// retry bounds the attempts of one sighting write; backoff is the
	// first wait between them.
	retry   int
	backoff time.Duration
}

// New builds the module and loads its state. It does not contact anything.
func New(p Params) (*Module, error) {
	if p.OpenCTI == nil {
		return nil, errors.New("sightings: no OpenCTI client")
	}
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Logger == nil {
		p.Logger = logp.NewNopLogger()
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	src := p.source
	if src == nil {
		es, err := esClient(p)
		if err != nil {
			return nil, err
		}
		src = alerts.NewReader(es, p.Config.Indices, p.Config.queryFilter(), p.Config.RequestTimeout)
	}
	typ, err := p.Config.IdentityType()
	if err != nil {
		return nil, err
	}
	identityID, err := api.IdentityStixID(typ, p.Config.Identity.Name)
	if err != nil {
		return nil, err
	}
	marking, err := p.Config.MarkingID()
	if err != nil {
		return nil, err
	}
	store := newStateStore(filepath.Join(p.DataPath, p.Config.StateFile))
	if filepath.IsAbs(p.Config.StateFile) {
		store.path = p.Config.StateFile
	}
	st, err := store.load()
	if err != nil {
		return nil, err
	}
	met := newMetrics(p.Registry)
	return &Module{
		cfg: p.Config, octi: p.OpenCTI, src: src, resolve: newResolver(p.OpenCTI, src, p.Logger, met),
		store: store, state: st, log: p.Logger, metrics: met, now: p.Clock,
		marking: marking, identityID: identityID, retry: 5, backoff: time.Second,
	}, nil
}

func esClient(p Params) (*elasticsearch.Client, error) {
	switch {
	case hasHosts(p.Config.Elasticsearch):
		cfg, err := ESConfigFromOutput(p.Config.Elasticsearch)
		if err != nil {
			return nil, fmt.Errorf("openctibeat.sightings.elasticsearch: %w", err)
		}
		return elasticsearch.NewClient(cfg)
	case p.Elasticsearch != nil:
		return p.Elasticsearch, nil
	case p.ESConfig != nil:
		return elasticsearch.NewClient(*p.ESConfig)
	}
	return nil, errors.New("sightings: no Elasticsearch connection: the output is not elasticsearch and openctibeat.sightings.elasticsearch.hosts is not set")
}

// StatePath is the file the module keeps its state in.
func (m *Module) StatePath() string { return m.store.path }

// Run polls every interval until ctx ends, then returns ctx's error. Errors
// are logged and counted; the next poll retries. A poll that stopped at
// max_alerts_per_poll is followed by the next one at once.
func (m *Module) Run(ctx context.Context) error {
	m.log.Infow("sightings module started", "indices", m.cfg.Indices, "interval", m.cfg.Interval, "state_file", m.store.path)
	for {
		more, err := m.Poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			m.metrics.failure()
			m.log.Errorw("sightings poll failed; retrying at the next interval", "error", err)
			more = false
		}
		if more {
			continue
		}
		if err := ctxsleep.Sleep(ctx, m.cfg.Interval); err != nil {
			return err
		}
	}
}

// Poll reads the alerts after the checkpoint, sends one sighting mutation
// per indicator, and saves the checkpoint once OpenCTI confirmed them all.
// more tells that max_alerts_per_poll stopped it before the last alert.
func (m *Module) Poll(ctx context.Context) (more bool, err error) {
	m.metrics.poll()
	m.resolve.startPoll()
	if err := m.ensureIdentity(ctx); err != nil {
		return false, err
	}
	b, err := m.collect(ctx)
	if err != nil {
		return false, err
	}
	reads, err := m.adopt(ctx, b)
	if err != nil {
		return false, err
	}
	next := m.state.clone()
	if err := m.post(ctx, b, &next, reads); err != nil {
		return false, err
	}
	m.advance(&next, b)
	m.prune(&next)
	next.Version = stateVersion
	if _, err := m.store.save(next); err != nil {
		return false, err
	}
	m.state = next
	if b.recheckIdentity {
		m.identity = nil
	}
	b.logSummary(m.log, m.resolve.invalid)
	return b.more, nil
}

func (m *Module) ensureIdentity(ctx context.Context) error {
	if m.identity != nil {
		return nil
	}
	typ, _ := m.cfg.IdentityType()
	in := api.IdentityInput{Type: typ, Name: m.cfg.Identity.Name, Description: m.cfg.Identity.Description}
	if m.marking != "" {
		in.Markings = []string{m.marking}
	}
	id, err := m.octi.EnsureIdentity(ctx, in)
	if err != nil {
		return fmt.Errorf("create the where-sighted identity %q: %w", m.cfg.Identity.Name, err)
	}
	m.identity = &id
	m.log.Infow("where-sighted identity ready", "type", typ, "name", id.Name, "id", id.ID, "stix_id", m.identityID)
	return nil
}

// advance moves the checkpoint of next over the batch and forgets the
// alert ids that fell out of the overlap.
func (m *Module) advance(next *State, b *batch) {
	if b.cursor != nil {
		next.Cursor = b.cursor
	}
	next.Continue = b.more
	if b.watermark.After(next.Watermark) {
		next.Watermark = b.watermark
	}
	if next.Watermark.IsZero() {
		// Nothing read on the first poll: start from its lower bound next
		// time, so the first look-back is not repeated forever.
		next.Watermark = b.from
	}
	for id, ms := range b.seen {
		next.Seen[id] = ms
	}
	limit := next.Watermark.Add(-m.cfg.Overlap).UnixMilli()
	for id, ms := range next.Seen {
		if ms < limit {
			delete(next.Seen, id)
		}
	}
}

// sightingStixID is the deterministic STIX id of the sighting of an
// indicator (internal id) at an identity (STIX id).
func sightingStixID(indicatorID, identityStixID string) string {
	return "sighting--" + uuid.NewSHA1(sightingNamespace, []byte(indicatorID+"|"+identityStixID)).String()
}

// sightingNamespace is openctibeat's UUIDv5 namespace for sighting ids.
var sightingNamespace = uuid.NewSHA1(api.OpenCTINamespace, []byte("openctibeat/sightings"))

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
