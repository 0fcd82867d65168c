package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/openctibeat/openctibeat/internal/atomicfile"
)

// Store persists the position in one JSON file.
type Store struct {
	path string
}

// NewStore keeps the position in file path (under the beat's path.data).
func NewStore(path string) *Store { return &Store{path: path} }

// Path is the file the position is kept in.
func (s *Store) Path() string { return s.path }

// Load returns the saved position; ok is false when none was saved yet.
func (s *Store) Load() (pos Position, ok bool, err error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, fmt.Errorf("read stream position %s: %w", s.path, err)
	}
	if err := json.Unmarshal(b, &pos); err != nil || pos.StartFrom == "" {
		return Position{}, false, fmt.Errorf("stream position file %s is corrupt (%q): move it away to start from the configured start point", s.path, truncate(b))
	}
	return pos, true, nil
}

// Save writes the position atomically: a crash leaves the old or the new
// file, never a torn one.
func (s *Store) Save(pos Position) error {
	b, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path, append(b, '\n')); err != nil {
		return fmt.Errorf("save stream position %s: %w", s.path, err)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
