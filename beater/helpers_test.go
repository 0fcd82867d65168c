package beater

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/openctibeat/openctibeat/config"
)

func logpField(k, v string) zapcore.Field { return zap.String(k, v) }

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func configStart(from string, recover bool) config.StartConfig {
	return config.StartConfig{From: from, Recover: recover}
}
