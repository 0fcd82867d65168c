package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestOptionsFromEnv(t *testing.T) {
	defaults := Options{N: 200000, Repeat: 1, FlushTimeout: "1s", OctiCheck: true, LiveRate: 2000, LiveSeconds: 15}
	tests := []struct {
		name    string
		env     map[string]string
		want    Options
		wantErr bool
	}{
		{name: "defaults", want: defaults},
		{
			name: "every knob",
			env: map[string]string{"BENCH_N": "1_000_000", "BENCH_REPEAT": "3", "BENCH_PROFILE": "1", "BENCH_FLUSH_TIMEOUT": "default",
				"BENCH_OCTISERVER": "0", "BENCH_KEEP_CAPTURE": "1", "BENCH_LIVE_RATE": "100", "BENCH_LIVE_SECONDS": "30",
				"BENCH_BEAT_EXTRA": "output.elasticsearch.worker: 2", "BENCH_SKIP_FAST": "1"},
			want: Options{N: 1000000, Repeat: 3, Profile: true, FlushTimeout: "", OctiCheck: false, KeepCapture: true,
				LiveRate: 100, LiveSeconds: 30, BeatExtra: "output.elasticsearch.worker: 2", SkipFast: true},
		},
		{name: "live off", env: map[string]string{"BENCH_LIVE": "0", "BENCH_FLUSH_TIMEOUT": "200ms"},
			want: func() Options { o := defaults; o.LiveRate, o.FlushTimeout = 0, "200ms"; return o }()},
		{name: "bad N", env: map[string]string{"BENCH_N": "many"}, wantErr: true},
		{name: "zero repeat", env: map[string]string{"BENCH_REPEAT": "0"}, wantErr: true},
		{name: "bad rate", env: map[string]string{"BENCH_LIVE_RATE": "-1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OptionsFromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Options{}, "Engine", "Out")); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}
