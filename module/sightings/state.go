package sightings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/openctibeat/openctibeat/internal/atomicfile"
)

// stateVersion is the version written. Version 1 (before records were
// pruned) is still read: in a version 1 file a sighting without a record was
// never created by the module (see Module.adopt).
const (
	stateVersion       = 2
	stateVersionLegacy = 1
)

// State is what the module persists, in one file written atomically after
// OpenCTI confirmed every sighting of a poll: the read position, the alerts
// already counted that a later poll may read again (the overlap), and, per
// sighting, its totals as OpenCTI last confirmed them.
type State struct {
	Version int `json:"version"`
	// Cursor is the sort values of the last alert processed.
	Cursor []any `json:"cursor,omitempty"`
	// Continue is set when the last poll stopped at max_alerts_per_poll: the
	// next one resumes after Cursor instead of re-reading the overlap.
	Continue bool `json:"continue,omitempty"`
	// Watermark is the @timestamp of the newest alert processed; zero before
	// the first poll completed.
	Watermark time.Time `json:"watermark,omitzero"`
	// Seen maps the ids of alerts processed with @timestamp at or after
	// Watermark minus the overlap to that @timestamp (Unix milliseconds).
	Seen map[string]int64 `json:"seen,omitempty"`
	// Sightings are keyed by the sighting's STIX id.
	Sightings map[string]Record `json:"sightings,omitempty"`
}

// Record is one sighting as OpenCTI confirmed it after the last mutation.
type Record struct {
	// Indicator is the indicator's internal id.
	Indicator string `json:"indicator"`
	// SightingID is OpenCTI's internal id of the sighting.
	SightingID string `json:"sighting_id"`
	Totals
}

// Totals are a sighting's count and time span.
type Totals struct {
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`
}

func newState() State {
	return State{Version: stateVersion, Seen: map[string]int64{}, Sightings: map[string]Record{}}
}

// clone copies the state deeply enough to be changed independently.
func (s State) clone() State {
	c := s
	c.Cursor = append([]any(nil), s.Cursor...)
	c.Seen = make(map[string]int64, len(s.Seen))
	for k, v := range s.Seen {
		c.Seen[k] = v
	}
	c.Sightings = make(map[string]Record, len(s.Sightings))
	for k, v := range s.Sightings {
		c.Sightings[k] = v
	}
	return c
}

// stateStore keeps the state in one JSON file. It remembers what the file
// holds, so that a state that did not change is not written again.
type stateStore struct {
	path string
	// last is the content of the file as loaded or last written (nil: no
	// file yet).
	last []byte
	// write replaces the file atomically (atomicfile.Write; tests count).
	write func(path string, b []byte) error
}

func newStateStore(path string) *stateStore {
	return &stateStore{path: path, write: atomicfile.Write}
}

// load returns the saved state, or a fresh one when there is no file.
func (s *stateStore) load() (State, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return State{}, fmt.Errorf("read sightings state %s: %w", s.path, err)
	}
	st := newState()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // sort values stay exact
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("sightings state file %s is corrupt (%v): move it away to start again from first_lookback (sightings already sent would be counted again)", s.path, err)
	}
	if st.Version != stateVersion && st.Version != stateVersionLegacy {
		return State{}, fmt.Errorf("sightings state file %s has version %d, this beat reads versions %d and %d", s.path, st.Version, stateVersionLegacy, stateVersion)
	}
	if st.Seen == nil {
		st.Seen = map[string]int64{}
	}
	if st.Sightings == nil {
		st.Sightings = map[string]Record{}
	}
	s.last = b
	return st, nil
}

// save writes the state atomically (a crash leaves the old or the new file)
// unless the file already holds exactly that; written tells which.
func (s *stateStore) save(st State) (written bool, err error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, err
	}
	b = append(b, '\n')
	if s.last != nil && bytes.Equal(b, s.last) {
		return false, nil
	}
	if err := s.write(s.path, b); err != nil {
		return false, fmt.Errorf("save sightings state %s: %w", s.path, err)
	}
	s.last = b
	return true, nil
}
