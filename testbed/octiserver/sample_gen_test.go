package octiserver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGenerateSampleStream regenerates testdata/sample-stream.jsonl from
// OpenCTI's stream-event samples. It runs only with
// OCTISERVER_SAMPLES=<dir of stream-event-stix2-*.json> (see
// testdata/README.md for the upstream commit), e.g.
//
//	OCTISERVER_SAMPLES=<opencti checkout>/opencti-platform/opencti-graphql/tests/data/stream-events \
//	  go test ./testbed/octiserver -run TestGenerateSampleStream
func TestGenerateSampleStream(t *testing.T) {
	dir := os.Getenv("OCTISERVER_SAMPLES")
	if dir == "" {
		t.Skip("OCTISERVER_SAMPLES not set")
	}
	load := func(name string) []map[string]any {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var objs []map[string]any
		if err := json.Unmarshal(b, &objs); err != nil {
			t.Fatal(err)
		}
		return objs
	}
	clone := func(m map[string]any) map[string]any {
		b, _ := json.Marshal(m)
		var c map[string]any
		_ = json.Unmarshal(b, &c)
		return c
	}
	ext := func(o map[string]any) map[string]any {
		return o["extensions"].(map[string]any)[octiExtension].(map[string]any)
	}
	ms := func(iso string) uint64 {
		tm, err := time.Parse(time.RFC3339Nano, iso)
		if err != nil {
			t.Fatal(err)
		}
		return uint64(tm.UnixMilli())
	}
	// touch sets modified and updated_at to iso.
	touch := func(o map[string]any, iso string) {
		if _, ok := o["modified"]; ok {
			o["modified"] = iso
		}
		ext(o)["updated_at"] = iso
	}

	indicators := load("stream-event-stix2-indicators.json")
	malwares := load("stream-event-stix2-malwares.json")
	relationship := load("stream-event-stix2-relationships.json")[0]
	sighting := load("stream-event-stix2-sightings.json")[0]
	directory := load("stream-event-stix2-observables.json")[0]
	domainInd, fileInd := indicators[0], indicators[1]
	malTarget, malSource := malwares[0], clone(malwares[1])
	// The samples give both malwares the same internal id; a merge needs two.
	ext(malSource)["id"] = "e3867694-5b86-4e28-8f13-f803e06e23ed"

	var evs []Event
	add := func(id idKey, kind string, obj map[string]any, ctx map[string]any) {
		evs = append(evs, Event{ID: id.String(), Name: kind, Data: Envelope(kind, obj, ctx)})
	}
	at := func(o map[string]any) idKey { return idKey{ms: ms(ext(o)["updated_at"].(string))} }

	add(at(domainInd), "create", domainInd, nil)
	add(at(fileInd), "create", fileInd, nil)
	add(at(sighting), "create", sighting, nil)
	add(at(relationship), "create", relationship, nil)
	add(at(directory), "create", directory, nil)
	add(at(malTarget), "create", malTarget, nil)
	add(idKey{ms: at(malSource).ms, seq: 1}, "create", malSource, nil)

	// Update: the file indicator's score 50 -> 80.
	const updAt = "2025-11-14T09:00:00.000Z"
	before := clone(fileInd)
	upd := clone(fileInd)
	touch(upd, updAt)
	ext(upd)["score"] = 80
	extPath := "/extensions/" + octiExtension
	add(idKey{ms: ms(updAt)}, "update", upd, map[string]any{
		"patch": []any{
			map[string]any{"op": "replace", "path": extPath + "/score", "value": 80},
			map[string]any{"op": "replace", "path": "/modified", "value": updAt},
			map[string]any{"op": "replace", "path": extPath + "/updated_at", "value": updAt},
		},
		"reverse_patch": []any{
			map[string]any{"op": "replace", "path": extPath + "/score", "value": 50},
			map[string]any{"op": "replace", "path": "/modified", "value": before["modified"]},
			map[string]any{"op": "replace", "path": extPath + "/updated_at", "value": ext(before)["updated_at"]},
		},
	})

	// Merge: malSource merged into malTarget.
	const mergeAt = "2025-11-14T09:05:00.000Z"
	merged := clone(malTarget)
	touch(merged, mergeAt)
	ext(merged)["stix_ids"] = []any{"malware--faa5b705-cf44-4e50-8472-29e5fec43c3c", malSource["id"]}
	add(idKey{ms: ms(mergeAt)}, "merge", merged, map[string]any{
		"patch": []any{
			map[string]any{"op": "add", "path": extPath + "/stix_ids/1", "value": malSource["id"]},
			map[string]any{"op": "replace", "path": "/modified", "value": mergeAt},
			map[string]any{"op": "replace", "path": extPath + "/updated_at", "value": mergeAt},
		},
		"reverse_patch": []any{
			map[string]any{"op": "remove", "path": extPath + "/stix_ids/1"},
			map[string]any{"op": "replace", "path": "/modified", "value": malTarget["modified"]},
			map[string]any{"op": "replace", "path": extPath + "/updated_at", "value": ext(malTarget)["updated_at"]},
		},
		"sources": []any{malSource},
	})

	// Delete: the domain indicator, as it was.
	add(idKey{ms: ms("2025-11-14T09:10:00.000Z")}, "delete", domainInd, nil)

	// An inferred relationship: only sent with with-inferences=true.
	const infAt = "2025-11-14T09:15:00.000Z"
	inferred := clone(relationship)
	inferred["id"] = "relationship--3c0c2a4e-5b0f-4d55-9e1a-7f1f2b0e6c11"
	ext(inferred)["id"] = "0f5b7a52-2c47-4b7e-9a43-5f2e8d1c9b70"
	ext(inferred)["is_inferred"] = true
	ext(inferred)["created_at"] = infAt
	inferred["created"] = infAt
	touch(inferred, infAt)
	add(idKey{ms: ms(infAt)}, "create", inferred, nil)

	f, err := os.Create(filepath.Join("testdata", "sample-stream.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteEvents(f, evs); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d events", len(evs))
}
