package beater

import (
	"context"
	"fmt"

	"github.com/elastic/elastic-agent-libs/paths"

	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/module/sightings"
	"github.com/openctibeat/openctibeat/opencti/api"
)

// startSightings runs the sightings module (ecs mode, when enabled) until
// ctx ends. A module that cannot be built is reported and left out: the
// stream goes on.
func startSightings(ctx context.Context, p Params, dataPath string) {
	cfg := p.Config.Sightings
	if p.Config.Mode != config.ModeECS || !cfg.Enabled {
		return
	}
	log := p.Log.Named("sightings")
	client, err := api.New(p.Config.OpenCTI, api.WithLogger(p.Log.Named("opencti_api")))
	if err != nil {
		log.Errorw("the sightings module cannot reach OpenCTI; sightings are off", "error", err)
		return
	}
	params := sightings.Params{
		Config: cfg, OpenCTI: client, DataPath: dataPath, Logger: log,
		Registry: p.Registry.GetOrCreateRegistry("sightings"), Clock: p.Now,
	}
	if p.Output.Name() == "elasticsearch" {
		esCfg, err := sightings.ESConfigFromOutput(p.Output.Config())
		if err != nil {
			log.Errorw("the sightings module cannot use output.elasticsearch; sightings are off", "error", err)
			return
		}
		params.ESConfig = &esCfg
	}
	m, err := sightings.New(params)
	if err != nil {
		log.Errorw("sightings are off", "error", fmt.Errorf("openctibeat.sightings: %w", err))
		return
	}
	log.Infow("sightings module started", "state_file", m.StatePath())
	go func() {
		if err := m.Run(ctx); err != nil && ctx.Err() == nil {
			log.Errorw("the sightings module stopped", "error", err)
		}
	}()
}

// dataPath is the beat's path.data.
func dataPath(p *paths.Path) string { return p.Resolve(paths.Data, "") }
