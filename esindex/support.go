package esindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/elastic/beats/v7/libbeat/beat"
	"github.com/elastic/beats/v7/libbeat/idxmgmt"
	"github.com/elastic/beats/v7/libbeat/outputs"
	"github.com/elastic/beats/v7/libbeat/template"
	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/logp"
)

// TemplatesFunc returns the templates the configuration needs.
type TemplatesFunc func(root *conf.C) ([]Template, error)

// SupportFactory returns the libbeat index-management factory that loads
// the templates returned by templates. Index selection stays libbeat's
// (events name their index in @metadata.index).
func SupportFactory(templates TemplatesFunc) idxmgmt.SupportFactory {
	return func(log *logp.Logger, info beat.Info, root *conf.C) (idxmgmt.Supporter, error) {
		def, err := idxmgmt.MakeDefaultSupport(nil, log)(log, info, root)
		if err != nil {
			return nil, err
		}
		tmpls, err := templates(root)
		if err != nil {
			return nil, err
		}
		tcfg := template.DefaultConfig(info)
		if root != nil && root.HasField("setup.template") {
			sub, err := root.Child("setup.template", -1)
			if err != nil {
				return nil, err
			}
			if err := sub.Unpack(&tcfg); err != nil {
				return nil, fmt.Errorf("setup.template: %w", err)
			}
		}
		return &support{def: def, info: info, log: log.Named("index-management"), templates: tmpls, cfg: tcfg}, nil
	}
}

type support struct {
	def       idxmgmt.Supporter
	info      beat.Info
	log       *logp.Logger
	templates []Template
	cfg       template.TemplateConfig
}

func (s *support) Enabled() bool { return s.cfg.Enabled && len(s.templates) > 0 }

func (s *support) BuildSelector(cfg *conf.C) (outputs.IndexSelector, error) {
	return s.def.BuildSelector(cfg)
}

func (s *support) Manager(client idxmgmt.ClientHandler, _ idxmgmt.Asseter) idxmgmt.Manager {
	return &manager{s: s, client: client}
}

type manager struct {
	s      *support
	client idxmgmt.ClientHandler
}

func (m *manager) VerifySetup(loadTemplate, _ idxmgmt.LoadMode) (bool, string) {
	if !m.s.cfg.Enabled && loadTemplate != idxmgmt.LoadModeForce && loadTemplate != idxmgmt.LoadModeOverwrite {
		return false, "Template loading not enabled (setup.template.enabled: false)."
	}
	return true, ""
}

// Setup loads every template through libbeat's loader (which checks for an
// existing template and honours overwrite).
func (m *manager) Setup(loadTemplate, _ idxmgmt.LoadMode) error {
	overwrite := m.s.cfg.Overwrite
	switch loadTemplate {
	case idxmgmt.LoadModeDisabled:
		return nil
	case idxmgmt.LoadModeOverwrite, idxmgmt.LoadModeForce:
		overwrite = true
	case idxmgmt.LoadModeUnset, idxmgmt.LoadModeEnabled:
		if !m.s.cfg.Enabled {
			return nil
		}
	}
	var errs []error
	for _, t := range m.s.templates {
		if err := m.load(t, overwrite); err != nil {
			errs = append(errs, fmt.Errorf("index template %s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (m *manager) load(t Template, overwrite bool) error {
	f, err := os.CreateTemp("", "openctibeat-template-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(t.Body()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cfg := template.DefaultConfig(m.s.info)
	cfg.Enabled = true
	cfg.Name, cfg.Pattern = t.Name, t.Patterns[0]
	cfg.JSON.Enabled, cfg.JSON.Path, cfg.JSON.Name, cfg.JSON.IsDataStream = true, f.Name(), t.Name, false
	cfg.Overwrite = overwrite
	cfg.Priority = t.Priority
	err = m.client.Load(cfg, m.s.info, nil, false)
	if err == nil || t.Fallback == nil {
		return err
	}
	// libbeat's loader reports a rejected template as a plain error (no
	// status to classify), so any failure is retried with the fallback: an
	// engine lacking Elasticsearch's field types (OpenSearch) rejects the
	// main variant, and if the engine is unreachable the fallback fails too.
	m.s.log.Infow("index template rejected, loading its fallback variant without the field types OpenSearch lacks (wildcard, constant_keyword, match_only_text, flattened)",
		"template", t.Name, "error", err)
	if ferr := m.load(*t.Fallback, overwrite); ferr != nil {
		return errors.Join(err, fmt.Errorf("fallback variant: %w", ferr))
	}
	return nil
}
