package demo

import (
	"fmt"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
	"github.com/openctibeat/openctibeat/stix"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// freshIndicators returns create events of current indicators, one per
// common observable type, with ids after lastID.
func freshIndicators(lastID string, now time.Time) []octiserver.Event {
	patterns := []struct{ name, pattern string }{
		{"C2 server", "[ipv4-addr:value = '203.0.113.66']"},
		{"C2 domain", "[domain-name:value = 'c2.badcorp.example']"},
		{"Payload URL", "[url:value = 'https://cdn.badcorp.example/payload.bin']"},
		{"Dropper", "[file:hashes.'SHA-256' = '4bf5ba13d1b1ad01e9a2c4a2d4d4f7c0d1f0e0f7a0d8c1b2a3f4e5d6c7b8a9f0' AND file:name = 'invoice.exe']"},
		{"Phishing sender", "[email-addr:value = 'billing@badcorp.example']"},
		{"Persistence", "[windows-registry-key:key = 'HKEY_CURRENT_USER\\\\Software\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Run']"},
	}
	id, err := checkpoint.ParseEventID(lastID)
	if err != nil {
		id = checkpoint.EventID{Millis: uint64(now.UnixMilli())}
	}
	created := now.UTC().Format("2006-01-02T15:04:05.000Z")
	out := make([]octiserver.Event, 0, len(patterns))
	for i, p := range patterns {
		obj := map[string]any{
			"type": "indicator", "spec_version": "2.1",
			"id":      fmt.Sprintf("indicator--dec0%04x-0000-4000-8000-%012x", i, i),
			"created": created, "modified": created,
			"name": p.name, "pattern": p.pattern, "pattern_type": "stix",
			"valid_from": created, "valid_until": now.AddDate(0, 6, 0).UTC().Format("2006-01-02T15:04:05.000Z"),
			"confidence": float64(80), "labels": []any{"demo"},
			"object_marking_refs": []any{"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"},
			"created_by_ref":      "identity--4f347cc9-4658-59ee-9707-134f434f9d1c",
			"extensions": map[string]any{stix.OpenCTIExtension: map[string]any{
				"id": fmt.Sprintf("dec0%04x-81a9-4e38-a829-%012x", i, i), "type": "Indicator", "score": float64(90), "detection": true,
				"created_at": created, "updated_at": created,
			}},
		}
		id.Seq++
		out = append(out, octiserver.Event{ID: id.String(), Name: "create", Data: octiserver.Envelope("create", obj, nil)})
	}
	return out
}
