package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// bareEnvelope holds what the beat decodes from an event: OpenCTI's
// envelope and the STIX object as a map (opencti/event decodes the same
// fields, in two passes: the envelope with the object as raw JSON, then
// the object into a map[string]any).
type bareEnvelope struct {
	Version string         `json:"version"`
	Type    string         `json:"type"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
	Context *struct {
		Sources      []json.RawMessage `json:"sources"`
		ReversePatch []json.RawMessage `json:"reverse_patch"`
	} `json:"context"`
}

// BareResult is what the bare loop measured.
type BareResult struct {
	Events   int
	Bytes    int64
	Duration time.Duration
}

// BareLoop is baseline 1: it reads the stream at url (a Server's) from the
// start with a bufio line reader and decodes each event's data with
// encoding/json, until n events were decoded. The clock starts when the
// response headers arrived.
func BareLoop(ctx context.Context, url string, n int) (BareResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/stream?from=0-0", nil)
	if err != nil {
		return BareResult{}, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return BareResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return BareResult{}, fmt.Errorf("bare loop: HTTP %d", resp.StatusCode)
	}
	start := time.Now()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var (
		res    BareResult
		name   []byte
		long   []byte
		dataPx = []byte("data: ")
		evPx   = []byte("event: ")
	)
	for res.Events < n {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) { // a line longer than the buffer
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return res, fmt.Errorf("bare loop after %d events: %w", res.Events, err)
		}
		res.Bytes += int64(len(line))
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(line, evPx):
			name = append(name[:0], line[len(evPx):]...)
		case bytes.HasPrefix(line, dataPx):
			if string(name) != "create" {
				continue
			}
			var env bareEnvelope
			if err := json.Unmarshal(line[len(dataPx):], &env); err != nil {
				return res, fmt.Errorf("bare loop: event %d: %w", res.Events, err)
			}
			res.Events++
		case len(line) == 0:
			name = name[:0]
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}
