package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// OptionsFromEnv reads the benchmark's knobs (see the Bench target of
// magefile.go) with getenv, over the defaults: BENCH_N (200000),
// BENCH_REPEAT (1), BENCH_PROFILE=1, BENCH_FLUSH_TIMEOUT (1s; "default" for
// libbeat's 10s), BENCH_OCTISERVER=0, BENCH_KEEP_CAPTURE=1,
// BENCH_LIVE_RATE (2000) and BENCH_LIVE_SECONDS (15), BENCH_LIVE=0,
// BENCH_BEAT_EXTRA, BENCH_SKIP_FAST=1. Beat, Dir, Engine and Out are left
// to the caller.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{N: 200000, Repeat: 1, FlushTimeout: "1s", OctiCheck: true, LiveRate: 2000, LiveSeconds: 15}
	ints := []struct {
		name string
		dst  *int
	}{{"BENCH_N", &o.N}, {"BENCH_REPEAT", &o.Repeat}}
	for _, k := range ints {
		if v := getenv(k.name); v != "" {
			n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
			if err != nil || n <= 0 {
				return o, fmt.Errorf("%s=%q: want a positive integer", k.name, v)
			}
			*k.dst = n
		}
	}
	floats := []struct {
		name string
		dst  *float64
	}{{"BENCH_LIVE_RATE", &o.LiveRate}, {"BENCH_LIVE_SECONDS", &o.LiveSeconds}}
	for _, k := range floats {
		if v := getenv(k.name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return o, fmt.Errorf("%s=%q: want a positive number", k.name, v)
			}
			*k.dst = f
		}
	}
	switch v := getenv("BENCH_FLUSH_TIMEOUT"); v {
	case "":
	case "default":
		o.FlushTimeout = ""
	default:
		o.FlushTimeout = v
	}
	o.Profile = getenv("BENCH_PROFILE") == "1"
	o.OctiCheck = getenv("BENCH_OCTISERVER") != "0"
	o.KeepCapture = getenv("BENCH_KEEP_CAPTURE") == "1"
	o.SkipFast = getenv("BENCH_SKIP_FAST") == "1"
	o.BeatExtra = getenv("BENCH_BEAT_EXTRA")
	o.LibbeatDefaults = getenv("BENCH_LIBBEAT_DEFAULTS") == "1"
	if getenv("BENCH_LIVE") == "0" {
		o.LiveRate = 0
	}
	return o, nil
}
