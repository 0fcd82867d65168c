// Package cmd builds openctibeat's command line on libbeat's: run, setup,
// test, export, keystore and version are libbeat's own.
package cmd

import (
	"os"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/cfgfile"
	lbcmd "github.com/elastic/beats/v7/libbeat/cmd"
	"github.com/elastic/beats/v7/libbeat/cmd/instance"
	"github.com/elastic/beats/v7/libbeat/publisher/processing"
	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/logp"

	"github.com/openctibeat/openctibeat/beater"
	"github.com/openctibeat/openctibeat/config"
	"github.com/openctibeat/openctibeat/esindex"
)

// Name is the beat's name.
const Name = "openctibeat"

// ConfigFile is the default configuration file, relative to path.config.
const ConfigFile = "opencti-beat.yml"

// Version is the beat's version; set at link time with -X.
var Version = "9.4.0"

// RootCmd is openctibeat's root command.
var RootCmd = New()

// Settings are the libbeat instance settings of the beat.
func Settings() instance.Settings {
	return instance.Settings{
		Name:            Name,
		IndexPrefix:     Name,
		Version:         Version,
		IndexManagement: esindex.SupportFactory(config.Templates),
		Processing:      processingSupport,
		// The old Python connector's configuration (its config.yml keys,
		// environment variables and CONNECTOR_JSON_CONFIG) is translated
		// into the beat's keys here. Check is the only hook that sees the
		// loaded file before anything reads it (cfgfile.Load calls it with
		// the file, then merges defaults < overrides < file < -E flags), so
		// it rewrites the file's configuration in place and returns false:
		// there is nothing to merge. Its error cannot be returned from
		// Check; config.Unpack returns it, so the beat refuses to start.
		ConfigOverrides: []cfgfile.ConditionalOverride{{
			Check:  config.LegacyCheck(os.Getenv),
			Config: conf.NewConfig(),
		}, deadLetterDefault()},
	}
}

// deadLetterDefault turns output.elasticsearch's dead letter index on
// when the configuration does not choose a non_indexable_policy (it runs
// after the old connector's translation, which may add the output).
func deadLetterDefault() cfgfile.ConditionalOverride {
	check, cfg := config.DeadLetterDefault()
	return cfgfile.ConditionalOverride{Check: check, Config: cfg}
}

// processingSupport is libbeat's default event processing (global fields,
// tags and processors apply) without host.name, which describes the machine
// the beat runs on, not the intelligence, and without libbeat's ecs.version
// (8.0.0): ecs mode's documents follow ECS 9.4 and say so themselves. stix
// mode also leaves out agent.* so documents stay the STIX objects as
// OpenCTI sent them.
func processingSupport(info beat.Info, log *logp.Logger, root *conf.C) (processing.Supporter, error) {
	if config.ModeOf(root) == config.ModeSTIX {
		return processing.MakeDefaultSupport(true, nil)(info, log, root)
	}
	return processing.MakeDefaultSupport(true, nil, processing.WithAgentMeta())(info, log, root)
}

// New builds the root command.
func New() *lbcmd.BeatsRootCmd {
	root := lbcmd.GenRootCmdWithSettings(beater.New, Settings())
	root.TestCmd.AddCommand(genTestOpenCTICmd(Settings()))
	// The reference configuration is opencti-beat.yml, not openctibeat.yml.
	if err := cfgfile.ChangeDefaultCfgfileFlag(trimYML(ConfigFile)); err != nil {
		panic(err)
	}
	return root
}

func trimYML(s string) string { return s[:len(s)-len(".yml")] }
