package stixmode

import (
	"fmt"
	"regexp"
)

// Config configures stix mode.
type Config struct {
	// Index is the index the objects are written to. It is a plain index
	// (not a data stream) so that documents can be replaced and deleted.
	Index string `config:"index"`
}

// DefaultIndex is the default index of stix mode.
const DefaultIndex = "opencti-stix"

// DefaultConfig returns the stix mode defaults.
func DefaultConfig() Config { return Config{Index: DefaultIndex} }

var indexRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]{0,254}$`)

// Validate checks the index name against the engine's rules.
func (c *Config) Validate() error {
	if !indexRe.MatchString(c.Index) || c.Index == "." || c.Index == ".." {
		return fmt.Errorf("openctibeat.stix.index %q is not a valid index name: use lowercase letters, digits, '-', '_', '.', '+' (not first), e.g. %q", c.Index, DefaultIndex)
	}
	return nil
}
