package beater

import (
	"context"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/opencti/api"
	"github.com/openctibeat/openctibeat/opencti/connector"
)

// startConnector registers the beat in OpenCTI as a STREAM connector (when
// openctibeat.connector.id is set) and pings it with the acknowledged
// position, so the connector and its position show in OpenCTI. A state an
// operator reset in OpenCTI comes back on resets and restarts the stream.
func startConnector(ctx context.Context, p Params, saver *checkpoint.Saver, start checkpoint.Position, resets chan checkpoint.Position) {
	cc := p.Config.Connector
	cfg := connector.DefaultConfig()
	cfg.ID, cfg.Name, cfg.Scope, cfg.Type, cfg.PingInterval = cc.ID, cc.Name, cc.Scope, cc.Type, cc.PingInterval
	log := p.Log.Named("connector")
	if !cfg.Enabled() {
		log.Infow("openctibeat.connector.id is not set: the beat does not register in OpenCTI as a connector")
		return
	}
	client, err := api.New(p.Config.OpenCTI, api.WithLogger(p.Log.Named("opencti_api")))
	if err != nil {
		log.Errorw("cannot register in OpenCTI", "error", err)
		return
	}
	conn := connector.New(cfg, client, log, p.Registry.GetOrCreateRegistry("connector"), nil)
	// Only what the output acknowledged (and was saved) is reported.
	acked := func() (checkpoint.Position, bool) {
		if pos, ok := saver.Saved(); ok {
			return pos, true
		}
		return start, true
	}
	onReset := func(pos checkpoint.Position) {
		if pos == (checkpoint.Position{}) { // OpenCTI's "reset state" empties it
			pos = firstPosition(p.Config.Start, p.Now())
		}
		select { // keep only the newest reset; never block the pings
		case resets <- pos:
		default:
			select {
			case <-resets:
			default:
			}
			resets <- pos
		}
	}
	go func() {
		stored, ok, err := conn.Register(ctx)
		if err != nil {
			return // ctx ended
		}
		if ok {
			log.Infow("registered in OpenCTI; its stored state is not adopted at start (the local position is the source of truth)",
				"opencti_start_from", stored.StartFrom, "opencti_recover_until", stored.RecoverUntil)
		}
		conn.Run(ctx, acked, onReset)
	}()
}
