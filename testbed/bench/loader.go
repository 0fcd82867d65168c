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
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openctibeat/openctibeat/testbed/engine"
)

// LoadResult is what the plain loader measured.
type LoadResult struct {
	Docs       int
	Bulks      int
	ErrorBulks int
	Bytes      int64
	Duration   time.Duration
}

// Load is baseline 2: it writes the captured documents (NDJSON action and
// document lines, see Timing) straight into the engine at engineURL with
// plain _bulk requests of perBulk actions from workers goroutines, without
// compression and without libbeat.
func Load(ctx context.Context, engineURL, capturePath string, workers, perBulk int) (LoadResult, error) {
	f, err := os.Open(capturePath)
	if err != nil {
		return LoadResult{}, err
	}
	defer f.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}, Timeout: 5 * time.Minute}
	bodies := make(chan []byte, 2*workers)
	var (
		res       LoadResult
		docs      atomic.Int64
		bulks     atomic.Int64
		errBulks  atomic.Int64
		sent      atomic.Int64
		wg        sync.WaitGroup
		firstErr  error
		errOnce   sync.Once
		ctxCancel context.CancelFunc
	)
	ctx, ctxCancel = context.WithCancel(ctx)
	defer ctxCancel()
	fail := func(err error) { errOnce.Do(func() { firstErr = err; ctxCancel() }) }

	start := time.Now()
	for range workers {
		wg.Go(func() {
			for body := range bodies {
				n, hadErrors, err := postBulk(ctx, client, engineURL, body)
				if err != nil {
					fail(err)
					continue
				}
				docs.Add(int64(n))
				bulks.Add(1)
				sent.Add(int64(len(body)))
				if hadErrors {
					errBulks.Add(1)
				}
			}
		})
	}
	rerr := readBulks(ctx, f, perBulk, bodies)
	close(bodies)
	wg.Wait()
	res.Duration = time.Since(start)
	res.Docs, res.Bulks, res.ErrorBulks, res.Bytes = int(docs.Load()), int(bulks.Load()), int(errBulks.Load()), sent.Load()
	if firstErr != nil {
		return res, firstErr
	}
	return res, rerr
}

// readBulks cuts the capture into bodies of perBulk actions.
func readBulks(ctx context.Context, r io.Reader, perBulk int, out chan<- []byte) error {
	br := bufio.NewReaderSize(r, 1<<20)
	body := make([]byte, 0, perBulk*2400)
	actions := 0
	expectDoc := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if !expectDoc {
				op, ok := actionOp(line)
				if !ok {
					return fmt.Errorf("capture: not an action: %.80s", line)
				}
				if actions == perBulk {
					select {
					case out <- body:
					case <-ctx.Done():
						return ctx.Err()
					}
					body, actions = make([]byte, 0, perBulk*2400), 0
				}
				actions++
				expectDoc = op != OpDelete
			} else {
				expectDoc = false
			}
			body = append(body, line...)
			if line[len(line)-1] != '\n' {
				body = append(body, '\n')
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if actions > 0 {
		select {
		case out <- body:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func postBulk(ctx context.Context, c *http.Client, engineURL string, body []byte) (int, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, engineURL+"/_bulk", bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("plain loader: _bulk answered HTTP %d: %.300s", resp.StatusCode, b)
	}
	var r struct {
		Errors bool              `json:"errors"`
		Items  []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, false, fmt.Errorf("plain loader: _bulk answer: %w", err)
	}
	return len(r.Items), r.Errors, nil
}

// deleteIndex removes index (missing is fine).
func deleteIndex(base, index string) error {
	status, b, err := engine.Request(http.MethodDelete, base, "/"+url.PathEscape(index), url.Values{"ignore_unavailable": {"true"}}, "")
	if err != nil {
		return err
	}
	if status != http.StatusOK && status != http.StatusNotFound {
		return fmt.Errorf("delete index %s: HTTP %d: %.300s", index, status, b)
	}
	return nil
}

// countDocs refreshes index and counts its documents.
func countDocs(base, index string) (int, error) {
	if _, _, err := engine.Request(http.MethodPost, base, "/"+url.PathEscape(index)+"/_refresh", nil, ""); err != nil {
		return 0, err
	}
	status, b, err := engine.Request(http.MethodGet, base, "/"+url.PathEscape(index)+"/_count", nil, "")
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("count %s: HTTP %d: %.300s", index, status, b)
	}
	var c struct {
		Count int `json:"count"`
	}
	return c.Count, json.Unmarshal(b, &c)
}
