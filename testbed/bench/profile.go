package bench

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A category groups CPU samples by what the work is for.
type category struct {
	name string
	// match reports whether a frame (a function name) belongs here.
	match func(fn string) bool
}

func has(subs ...string) func(string) bool {
	return func(fn string) bool {
		for _, s := range subs {
			if strings.Contains(fn, s) {
				return true
			}
		}
		return false
	}
}

func prefix(ps ...string) func(string) bool {
	return func(fn string) bool {
		for _, p := range ps {
			if strings.HasPrefix(fn, p) {
				return true
			}
		}
		return false
	}
}

// Categories, tried on each frame from the leaf towards the root: the first
// frame that matches one owns the sample, so runtime helpers (malloc,
// memmove, hashing) are charged to the code that called them.
var categories = []category{
	{"gzip (output compression)", prefix("compress/", "github.com/klauspost/compress")},
	{"JSON decoding of events (segmentio/encoding)", prefix("github.com/segmentio/encoding", "encoding/json.")},
	{"r3labs/sse (SSE parsing)", prefix("github.com/r3labs/sse")},
	{"STIX pattern parser (ours)", has("openctibeat/openctibeat/stix/pattern")},
	{"ecs mapping (ours)", has("openctibeat/openctibeat/mapping")},
	{"decode/publish/checkpoint glue (ours)", has("openctibeat/openctibeat/")},
	{"libbeat event encoding (go-structform)", has("elastic/go-structform", "libbeat/outputs/codec", "eslegclient.(*jsonEncoder)", "eslegclient.(*gzipEncoder)", "outputs/elasticsearch.(*eventEncoder)")},
	{"libbeat queue", has("libbeat/publisher/queue")},
	{"libbeat processing (normalisation, processors)", has("libbeat/publisher/processing", "libbeat/processors", "elastic-agent-libs/mapstr", "libbeat/beat.", "libbeat/common")},
	{"libbeat pipeline (publish, ack)", has("libbeat/publisher", "libbeat/common/acker")},
	{"libbeat output (elasticsearch)", has("libbeat/outputs", "libbeat/esleg")},
	{"libbeat other (monitoring, logging)", has("elastic/beats/", "elastic/elastic-agent-libs", "go.uber.org/zap")},
	{"net/http + network I/O", prefix("net/http.", "net.", "internal/poll.", "syscall.", "bufio.")},
}

const (
	catGC    = "GC (background marking, sweeping, assists)"
	catOther = "runtime (scheduler, idle, unattributed)"
)

// isGC tells whether a stack is garbage collection work.
func isGC(stack []string) bool {
	for _, fn := range stack {
		switch {
		case strings.HasPrefix(fn, "runtime.gcBgMarkWorker"), strings.HasPrefix(fn, "runtime.bgsweep"),
			strings.HasPrefix(fn, "runtime.bgscavenge"), strings.HasPrefix(fn, "runtime.gcAssistAlloc"),
			strings.HasPrefix(fn, "runtime.(*scavengerState)"), strings.HasPrefix(fn, "runtime.markroot"),
			strings.HasPrefix(fn, "runtime.gcStart"), strings.HasPrefix(fn, "runtime.gcMarkDone"):
			return true
		}
	}
	return false
}

// classify names the category of one stack (leaf first).
func classify(stack []string) string {
	if isGC(stack) {
		return catGC
	}
	for _, fn := range stack {
		for _, c := range categories {
			if c.match(fn) {
				return c.name
			}
		}
	}
	return catOther
}

// Share is one category's part of a CPU profile.
type Share struct {
	Category string  `json:"category"`
	Seconds  float64 `json:"cpu_s"`
	Percent  float64 `json:"percent"`
}

// CategorizeTraces groups the output of `go tool pprof -traces` by
// category.
func CategorizeTraces(r io.Reader) ([]Share, time.Duration, error) {
	sums := map[string]time.Duration{}
	var total time.Duration
	var stack []string
	var value time.Duration
	flush := func() {
		if len(stack) > 0 {
			sums[classify(stack)] += value
			total += value
		}
		stack, value = stack[:0], 0
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	started, head := false, false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			started, head = true, true
			continue
		}
		fields := strings.Fields(line)
		if !started || len(fields) == 0 {
			continue
		}
		if head { // "<value>   <leaf function>"
			if len(fields) < 2 {
				return nil, 0, fmt.Errorf("pprof traces: unexpected line %q", line)
			}
			d, err := parsePprofValue(fields[0])
			if err != nil {
				return nil, 0, fmt.Errorf("pprof traces: %q: %w", line, err)
			}
			value, head = d, false
			stack = append(stack, fields[1])
			continue
		}
		if strings.Contains(fields[0], ":") { // a label line
			continue
		}
		stack = append(stack, fields[0])
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	out := make([]Share, 0, len(sums))
	for name, d := range sums {
		out = append(out, Share{Category: name, Seconds: d.Seconds(), Percent: 100 * d.Seconds() / max(total.Seconds(), 1e-9)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seconds > out[j].Seconds })
	return out, total, nil
}

// parsePprofValue parses pprof's durations: "10ms", "1.20s", "2.5mins", "1hrs".
func parsePprofValue(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"mins", time.Minute}, {"min", time.Minute}, {"hrs", time.Hour}, {"hr", time.Hour}} {
		if strings.HasSuffix(s, u.suffix) {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return time.ParseDuration(s)
}

// analyzeCPU categorises a CPU profile with `go tool pprof` and returns
// the shares and pprof's flat top list.
func analyzeCPU(path string, topN int) ([]Share, time.Duration, string, error) {
	traces, err := exec.Command("go", "tool", "pprof", "-traces", path).Output()
	if err != nil {
		return nil, 0, "", fmt.Errorf("go tool pprof -traces %s: %w", path, err)
	}
	shares, total, err := CategorizeTraces(strings.NewReader(string(traces)))
	if err != nil {
		return nil, 0, "", err
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount="+strconv.Itoa(topN), path).Output()
	if err != nil {
		return shares, total, "", fmt.Errorf("go tool pprof -top %s: %w", path, err)
	}
	return shares, total, string(top), nil
}

// pprofTop runs `go tool pprof -top` with extra arguments.
func pprofTop(path string, args ...string) (string, error) {
	out, err := exec.Command("go", append(append([]string{"tool", "pprof", "-top"}, args...), path)...).Output()
	return string(out), err
}
