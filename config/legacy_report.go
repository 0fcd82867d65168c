package config

import (
	"strings"
	"sync"

	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/elastic-agent-libs/logp"
	ucfg "github.com/elastic/go-ucfg"
)

// LegacyReport is what the translation of the old connector's
// configuration did. It holds key names only, never values.
type LegacyReport struct {
	// Err is the translation's error; nil when it succeeded.
	Err error
	// Translated lists "<old key or variable> -> <beat key>", and the old
	// file keys not applied because the file sets the beat key itself.
	Translated []string
	// Ignored lists the old keys without an equivalent, each with why.
	Ignored []string
}

func (r *LegacyReport) ignore(what, why string) {
	line := what + ": " + why
	for _, l := range r.Ignored {
		if l == line {
			return
		}
	}
	r.Ignored = append(r.Ignored, line)
}

// ignoreUnknown reports the keys of the old sections no rule knows.
func (r *LegacyReport) ignoreUnknown(cfg *ucfg.Config, l layer) {
	for _, k := range cfg.FlattenedKeys(pathOpts...) {
		if !inLegacySection(k) || knownOldKey(k) {
			continue
		}
		name := k + " (" + layerFile.String() + ")"
		if l == layerJSON {
			name = EnvJSONConfig + " " + k
		}
		r.ignore(name, "no equivalent in the beat")
	}
}

func inLegacySection(k string) bool {
	for _, s := range []string{"opencti", "connector", "elastic", "elastic_import_from_date"} {
		if k == s || strings.HasPrefix(k, s+".") {
			return true
		}
	}
	return false
}

func knownOldKey(k string) bool {
	for _, r := range rules {
		if k == r.key || strings.HasPrefix(k, r.key+".") {
			return true
		}
	}
	return false
}

// Log writes the report at info level (nothing when there was nothing to
// translate).
func (r LegacyReport) Log(log *logp.Logger) {
	if log == nil {
		return
	}
	if len(r.Translated) > 0 {
		log.Infow("old connector configuration translated", "keys", r.Translated)
	}
	for _, l := range r.Ignored {
		log.Infow("old connector configuration key ignored", "key", l)
	}
}

// legacyState is the report of the last translation run by LegacyCheck.
var legacyState struct {
	sync.Mutex
	report LegacyReport
}

// LegacyCheck returns the Check of the cfgfile.ConditionalOverride that
// translates the old connector's configuration (see TranslateLegacy). It
// rewrites the configuration it is given and returns false (there is
// nothing to merge). A Check cannot fail, so the outcome is kept:
// LastLegacyReport returns it, and Unpack returns its error, so the beat
// refuses to start with it.
func LegacyCheck(getenv func(string) string) func(*conf.C) bool {
	return func(c *conf.C) bool {
		r, err := translateLegacy(c, getenv)
		r.Err = err
		legacyState.Lock()
		legacyState.report = r
		legacyState.Unlock()
		return false
	}
}

// LastLegacyReport returns the report of the last translation run by a
// LegacyCheck (zero when none ran).
func LastLegacyReport() LegacyReport {
	legacyState.Lock()
	defer legacyState.Unlock()
	return legacyState.report
}

// LegacyError is the error of the last translation run by a LegacyCheck.
func LegacyError() error { return LastLegacyReport().Err }

// resetLegacyReport forgets the last translation (tests).
func resetLegacyReport() {
	legacyState.Lock()
	legacyState.report = LegacyReport{}
	legacyState.Unlock()
}
