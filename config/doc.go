// Package config is the beat's configuration: the `openctibeat` section of
// opencti-beat.yml, composed of the configurations the packages own.
package config
