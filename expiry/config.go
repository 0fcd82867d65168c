package expiry

import (
	"errors"
	"fmt"
	"time"
)

// Config configures expiry and refresh.
type Config struct {
	Enabled bool `config:"enabled"`
	// CheckInterval is the longest time between two expiry checks.
	CheckInterval time.Duration `config:"check_interval"`
	// RefreshAfter is the age of @timestamp after which a document of a
	// still-valid indicator is refreshed. It must stay below the rules'
	// 30-day look-back.
	RefreshAfter time.Duration `config:"refresh_after"`
	// RefreshInterval is how often refresh runs.
	RefreshInterval time.Duration `config:"refresh_interval"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Enabled: true, CheckInterval: 30 * time.Second, RefreshAfter: 7 * 24 * time.Hour, RefreshInterval: time.Hour}
}

// Validate checks the settings.
func (c *Config) Validate() error {
	var errs []error
	if c.CheckInterval < time.Second {
		errs = append(errs, fmt.Errorf("openctibeat.ecs.expiry.check_interval %s is below 1s", c.CheckInterval))
	}
	if c.RefreshAfter < time.Minute || c.RefreshAfter > 25*24*time.Hour {
		errs = append(errs, fmt.Errorf("openctibeat.ecs.expiry.refresh_after %s must be between 1m and 25 days: the prebuilt rules only read indicators of the last 30 days", c.RefreshAfter))
	}
	if c.RefreshInterval < time.Second {
		errs = append(errs, errors.New("openctibeat.ecs.expiry.refresh_interval must be at least 1s"))
	}
	return errors.Join(errs...)
}
