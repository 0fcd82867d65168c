package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openctibeat/openctibeat/testbed/esproxy"
	"github.com/openctibeat/openctibeat/testbed/octiserver"
)

// Options configure Run.
type Options struct {
	// Beat is the beat binary, built as shipped.
	Beat string
	// Dir receives the runs' homes, logs, captures and profiles.
	Dir string
	// N is the number of indicators.
	N int
	// Seed of the generator; 0 means DefaultSeed.
	Seed uint64
	// Repeat runs the fast-sink run and the bare loop this many times and
	// reports medians (the machine is noisy).
	Repeat int
	// FlushTimeout is the beat's queue.mem.flush.timeout ("" = libbeat's
	// 10s default).
	FlushTimeout string
	// LibbeatDefaults runs the beat with libbeat's output and queue sizes
	// instead of the reference configuration's.
	LibbeatDefaults bool
	// Profile adds a profiled fast-sink run and saves its CPU and heap
	// profiles into Dir.
	Profile bool
	// Engine starts the real engine and returns its URL and a stop
	// function; nil skips the OpenSearch parts.
	Engine func() (url string, stop func(), err error)
	// OctiCheck adds a fast-sink run fed by the project's OpenCTI test
	// server (throughput only) for N <= OctiCheckMax.
	OctiCheck bool
	// LiveRate and LiveSeconds add a run into the fast sink where the stream
	// trickles at LiveRate events/s for LiveSeconds (a live stream rather
	// than a backfill), for its latency. Zero LiveRate skips it.
	LiveRate    float64
	LiveSeconds float64
	// BeatExtra is more YAML for the beat's configuration (to try settings,
	// e.g. "output.elasticsearch.worker: 2").
	BeatExtra string
	// SkipFast skips the fast-sink runs and the bare loop (engine only).
	SkipFast bool
	// KeepCapture keeps the documents captured on the way to the engine
	// (Dir/opensearch-docs.ndjson) instead of removing them.
	KeepCapture bool
	Out         io.Writer
}

// sinkParseEvery: the fast sink gunzips and parses one gzip bulk request in
// this many (see Sink); the others are answered from libbeat's event count.
const sinkParseEvery = 4

// OctiCheckMax bounds the cross-check run (octiserver holds the stream in
// memory as strings).
const OctiCheckMax = 200_000

// benchIndex is the ecs index the beat writes (it matches logs-ti_*).
const benchIndex = "logs-ti_openctibeat.indicator-bench"

// RunResult is one run of the beat (or of a baseline).
type RunResult struct {
	Indicators       int      `json:"indicators"`
	Docs             int64    `json:"docs"`
	Seconds          float64  `json:"seconds"`
	IndicatorsPerSec float64  `json:"indicators_per_s"`
	DocsPerSec       float64  `json:"docs_per_s"`
	MBPerSec         float64  `json:"mb_per_s"`               // SSE input (1 MB = 1e6 bytes)
	OutMBPerSec      float64  `json:"out_mb_per_s,omitempty"` // uncompressed bulk bodies
	Latency          *Latency `json:"latency,omitempty"`
	PeakRSSMB        float64  `json:"peak_rss_mb,omitempty"`
	CPUSeconds       float64  `json:"cpu_s,omitempty"` // the process, during the measured window
	CPUTotalSeconds  float64  `json:"cpu_total_s,omitempty"`
	CPUPerIndicator  float64  `json:"cpu_us_per_indicator,omitempty"`
	Cores            float64  `json:"cores_used,omitempty"`
	HarnessCPU       float64  `json:"harness_cpu_s,omitempty"` // this process (stream server, sink or proxy)
	OtherCores       float64  `json:"other_load_cores"`        // the rest of the machine, busy on average during the window
	Connections      int      `json:"connections,omitempty"`
	LogErrors        int      `json:"log_errors,omitempty"`
	LogWarnings      int      `json:"log_warnings,omitempty"`
}

// SinkAlone is the fast sink measured without the beat.
type SinkAlone struct {
	DocsPerSec float64 `json:"docs_per_s"`
	CPUPerDoc  float64 `json:"cpu_us_per_doc"`
	Encoding   string  `json:"encoding"`
}

// Report is the whole benchmark's result, printed as one JSON line.
type Report struct {
	N              int         `json:"n"`
	AvgEventBytes  float64     `json:"avg_event_bytes"`
	GOMAXPROCS     int         `json:"gomaxprocs"`
	FlushTimeout   string      `json:"queue_mem_flush_timeout"`
	BeatExtra      string      `json:"beat_extra_config,omitempty"`
	Sizes          string      `json:"output_queue_sizes"`
	FastSink       *RunResult  `json:"beat_fast_sink,omitempty"`
	FastSinkRuns   []float64   `json:"beat_fast_sink_runs_per_s,omitempty"`
	Live           *RunResult  `json:"beat_fast_sink_live,omitempty"`
	LiveRate       float64     `json:"live_rate_per_s,omitempty"`
	OctiServer     *RunResult  `json:"beat_fast_sink_octiserver,omitempty"`
	Bare           *RunResult  `json:"bare_loop,omitempty"`
	BareRuns       []float64   `json:"bare_loop_runs_per_s,omitempty"`
	SinkAlone      *SinkAlone  `json:"sink_alone,omitempty"`
	OpenSearch     *RunResult  `json:"beat_opensearch,omitempty"`
	Loader         *RunResult  `json:"plain_loader,omitempty"`
	RatioFastBare  float64     `json:"ratio_beat_fast_sink_to_bare_loop,omitempty"`
	RatioOSLoader  float64     `json:"ratio_beat_opensearch_to_plain_loader,omitempty"`
	Targets        []TargetRow `json:"targets"`
	CPUProfile     []Share     `json:"cpu_profile_fast_sink,omitempty"`
	CPUProfileFile string      `json:"cpu_profile_file,omitempty"`
	Notes          []string    `json:"notes"`
}

// TargetRow is one of the targets.
type TargetRow struct {
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Want   string  `json:"want"`
	Met    bool    `json:"met"`
}

type runner struct {
	o       Options
	data    *Data
	out     io.Writer
	graphql string // the OpenCTI test server answering /graphql for every stream server
}

func (r *runner) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

// Run runs the benchmark and prints its figures to o.Out.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.N <= 0 {
		return nil, errors.New("bench: N must be positive")
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	o.Repeat = max(o.Repeat, 1)
	if o.Out == nil {
		o.Out = io.Discard
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	r := &runner{o: o, out: o.Out}
	// The OpenCTI test server answers the beat's GraphQL requests (connector
	// registration and pings) behind every stream server.
	gql, err := octiserver.New(octiserver.Options{Token: benchToken})
	if err != nil {
		return nil, err
	}
	defer gql.Close()
	r.graphql = gql.URL()
	rep := &Report{N: o.N, GOMAXPROCS: runtime.GOMAXPROCS(0), FlushTimeout: o.FlushTimeout, BeatExtra: o.BeatExtra}
	if rep.FlushTimeout == "" {
		rep.FlushTimeout = "10s (libbeat default)"
	}

	t0 := time.Now()
	r.data = Generate(o.N, o.Seed)
	rep.AvgEventBytes = float64(len(r.data.Bytes)) / float64(o.N)
	r.printf("bench: %d indicators generated in %s: %.1f MB of SSE, %.0f bytes per event on average\n",
		o.N, time.Since(t0).Round(time.Millisecond), float64(len(r.data.Bytes))/1e6, rep.AvgEventBytes)
	r.printf("bench: machine: %d cores (GOMAXPROCS); other work on it shows up as noise\n", runtime.GOMAXPROCS(0))
	rep.Sizes = "opencti-beat.yml: output.elasticsearch.worker 2, bulk_max_size 800, queue.mem.events 1600"
	if o.LibbeatDefaults {
		rep.Sizes = "libbeat defaults: output.elasticsearch.worker 1, bulk_max_size 1600, queue.mem.events 3200"
	}
	r.printf("bench: output and queue sizes: %s\n", rep.Sizes)
	if o.BeatExtra != "" {
		r.printf("bench: extra beat configuration: %q\n", o.BeatExtra)
	}

	if !o.SkipFast {
		if err := r.fastRuns(ctx, rep); err != nil {
			return rep, err
		}
	}

	// (b) OpenSearch and baseline 2.
	if o.Engine != nil {
		if err := r.engineRuns(ctx, rep); err != nil {
			return rep, err
		}
	}

	r.finish(rep)
	return rep, nil
}

// fastRuns are the runs without the engine: the beat into the fast sink
// (repeated), the sink alone, the bare loop, the live run, the octiserver
// cross-check and the profiles.
func (r *runner) fastRuns(ctx context.Context, rep *Report) error {
	o := r.o
	var fast []RunResult
	var sample []byte
	var sampleEnc string
	for k := range o.Repeat {
		res, sink, err := r.fastSinkRun(ctx, fmt.Sprintf("fast-sink-%d", k+1), nil)
		if err != nil {
			return err
		}
		if sample == nil {
			sample, sampleEnc = sink.Sample()
		}
		fast = append(fast, res)
		rep.FastSinkRuns = append(rep.FastSinkRuns, round(res.IndicatorsPerSec, 0))
	}
	rep.FastSink = ptr(median(fast))

	// The sink alone, on a bulk body the beat sent.
	if sample != nil {
		sa := measureSink(sample, sampleEnc, 2*time.Second)
		rep.SinkAlone = &sa
		r.printf("sink alone, parsing every request: %.0f docs/s over loopback HTTP (one client, %s bodies of the beat), %.2f us CPU per doc (client included)\n",
			sa.DocsPerSec, sa.Encoding, sa.CPUPerDoc)
	}

	// Baseline 1: the bare loop.
	var bare []RunResult
	for range o.Repeat {
		res, err := r.bareRun(ctx)
		if err != nil {
			return err
		}
		bare = append(bare, res)
		rep.BareRuns = append(rep.BareRuns, round(res.IndicatorsPerSec, 0))
	}
	rep.Bare = ptr(median(bare))
	rep.RatioFastBare = rep.FastSink.IndicatorsPerSec / rep.Bare.IndicatorsPerSec

	// Latency of a live (paced) stream.
	if o.LiveRate > 0 && o.LiveSeconds > 0 {
		res, err := r.liveRun(ctx, o.LiveRate, o.LiveSeconds)
		if err != nil {
			return err
		}
		rep.Live, rep.LiveRate = &res, o.LiveRate
	}

	// Cross-check: the same run fed by the OpenCTI test server.
	if o.OctiCheck && o.N <= OctiCheckMax {
		res, err := r.octiRun(ctx)
		if err != nil {
			return err
		}
		rep.OctiServer = &res
	}

	// Profiles.
	if o.Profile {
		if err := r.profileRun(ctx, rep, rep.FastSink.Seconds); err != nil {
			r.printf("profile: %v\n", err)
		}
	}

	return nil
}

func ptr[T any](v T) *T { return &v }

// median is the run with the median rate.
func median(rs []RunResult) RunResult {
	s := slices.Clone(rs)
	sort.Slice(s, func(i, j int) bool { return s[i].IndicatorsPerSec < s[j].IndicatorsPerSec })
	return s[len(s)/2]
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// beatRun is one run of the beat against a stream source and an output.
type beatRun struct {
	name    string
	data    *Data
	octi    bool         // serve with octiserver (no emission times)
	output  http.Handler // built by the caller around rec
	rec     *Recorder
	flush   string
	profile *profileReq
	extra   string
	timeout time.Duration
}

type profileReq struct {
	seconds int
	cpuPath string
	heap    string
	errs    chan error
}

// newRunRecorder starts a Server of d and the Recorder timing against it.
func (r *runner) newRunRecorder(d *Data) (*Server, *Recorder, error) {
	srv, err := NewServer(d, ServerOptions{GraphQL: r.graphql})
	if err != nil {
		return nil, nil, err
	}
	return srv, NewRecorder(srv.Emitted, d.N*5/4), nil
}

// runBeat runs the beat until its saved position is the last event.
func (r *runner) runBeat(ctx context.Context, b beatRun, srv *Server) (RunResult, error) {
	res := RunResult{Indicators: b.data.N}
	out, err := ServeHTTPHandler(b.output)
	if err != nil {
		return res, err
	}
	defer out.Close()

	var (
		proc      atomic.Pointer[beatProc]
		startCPU  atomic.Int64
		startSelf atomic.Int64
		startBusy atomic.Int64
		streamURL string
		octi      *octiserver.Server
		profWG    sync.WaitGroup
	)
	onStart := func() {
		startBusy.Store(int64(machineBusy()))
		startSelf.Store(int64(selfCPU()))
		if p := proc.Load(); p != nil {
			if st, err := readProcStats(p.pid()); err == nil {
				startCPU.Store(int64(st.CPU))
			}
		}
	}
	pprofPort := 0
	if b.profile != nil {
		if pprofPort, err = freePort(); err != nil {
			return res, err
		}
		inner := onStart
		onStart = func() {
			inner()
			profWG.Go(func() {
				u := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", pprofPort, b.profile.seconds)
				b.profile.errs <- fetchTo(ctx, u, b.profile.cpuPath)
			})
		}
	}
	if b.octi {
		if octi, err = r.octiSource(b.data); err != nil {
			return res, err
		}
		defer octi.Close()
		streamURL = octi.URL()
	} else {
		srv.onStart = onStart
		streamURL = srv.URL()
	}

	dir := filepath.Join(r.o.Dir, b.name)
	p, err := startBeat(r.o.Beat, dir, beatConfig{StreamURL: streamURL, OutputURL: out.URL, Index: benchIndex,
		FlushTimeout: b.flush, Tuned: !r.o.LibbeatDefaults, PprofPort: pprofPort, Extra: b.extra + r.o.BeatExtra + "\n"})
	if err != nil {
		return res, err
	}
	proc.Store(p)
	defer p.stop()
	if b.octi {
		onStart() // octiserver has no hook: the window starts at its first stream request
	}
	if err := p.waitPosition(ctx, b.data.LastID(), b.timeout); err != nil {
		return res, fmt.Errorf("%s: %w\n%s", b.name, err, p.logTail(3000))
	}
	end := b.rec.Last()
	st, err := readProcStats(p.pid())
	if err != nil {
		return res, err
	}
	harness := selfCPU() - time.Duration(startSelf.Load())
	busy := machineBusy() - time.Duration(startBusy.Load())

	var start time.Time
	if b.octi {
		reqs := octi.StreamRequests()
		if len(reqs) > 0 {
			start = reqs[0].Time
		}
		res.Connections = len(reqs)
	} else {
		start = srv.Start()
		res.Connections = srv.Connections()
	}
	if b.profile != nil {
		if err := fetchTo(ctx, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", pprofPort), b.profile.heap); err != nil {
			r.printf("profile: heap: %v\n", err)
		}
		profWG.Wait()
	}
	p.stop()
	res.LogErrors, res.LogWarnings = p.logErrors()

	if err := res.fill(b.data, start, end, st, time.Duration(startCPU.Load()), harness, busy); err != nil {
		return res, fmt.Errorf("%s: %w", b.name, err)
	}
	if !b.octi {
		l := b.rec.Summary()
		res.Latency = &l
	}
	return res, nil
}

// octiSource serves d with the project's OpenCTI test server.
func (r *runner) octiSource(d *Data) (*octiserver.Server, error) {
	evs := make([]octiserver.Event, d.N)
	g := Generator{Seed: r.o.Seed}
	for i := range evs {
		evs[i] = octiserver.Event{ID: EventID(i), Name: "create", Data: g.Envelope(i)}
	}
	return octiserver.New(octiserver.Options{Token: benchToken, Events: evs})
}

// fill computes a run's figures from its window [start, end], the beat's
// process figures at the end (st), its CPU at the start (cpu0), this
// process's CPU in the window (harness) and the machine's (busy).
func (res *RunResult) fill(d *Data, start, end time.Time, st procStats, cpu0, harness, busy time.Duration) error {
	dur := end.Sub(start)
	if start.IsZero() || dur <= 0 {
		return fmt.Errorf("no measurable window (start %v, end %v)", start, end)
	}
	res.Seconds = dur.Seconds()
	res.IndicatorsPerSec = float64(d.N) / res.Seconds
	res.MBPerSec = float64(len(d.Bytes)) / 1e6 / res.Seconds
	res.PeakRSSMB = float64(st.PeakRSS) / (1 << 20)
	res.CPUTotalSeconds = st.CPU.Seconds()
	res.CPUSeconds = (st.CPU - cpu0).Seconds()
	res.CPUPerIndicator = res.CPUSeconds * 1e6 / float64(d.N)
	res.Cores = res.CPUSeconds / res.Seconds
	res.HarnessCPU = harness.Seconds()
	res.OtherCores = max(0, (busy.Seconds()-res.CPUSeconds-res.HarnessCPU)/res.Seconds)
	return nil
}

func (r *runner) timeout(n int) time.Duration {
	return 2*time.Minute + time.Duration(n)*time.Second/1000
}

// fastSinkRun is run (a): the beat into the fast sink.
func (r *runner) fastSinkRun(ctx context.Context, name string, prof *profileReq) (RunResult, *Sink, error) {
	srv, rec, err := r.newRunRecorder(r.data)
	if err != nil {
		return RunResult{}, nil, err
	}
	defer srv.Close()
	sink := NewSink(rec)
	sink.ParseEvery = sinkParseEvery
	res, err := r.runBeat(ctx, beatRun{name: name, data: r.data, output: sink, rec: rec, flush: r.o.FlushTimeout,
		profile: prof, timeout: r.timeout(r.data.N)}, srv)
	if err != nil {
		return res, sink, err
	}
	res.Docs = sink.Docs()
	res.DocsPerSec = float64(res.Docs) / res.Seconds
	res.OutMBPerSec = float64(sink.Bytes()) / 1e6 / res.Seconds
	r.printRun("beat -> fast sink ("+name+")", res)
	r.printf("  sink: %d bulk requests, %d parsed and timed (1 in %d)\n", sink.Requests(), sink.Parsed(), sinkParseEvery)
	if sink.Errors() > 0 {
		r.printf("  WARNING: the sink could not parse %d bulk requests\n", sink.Errors())
	}
	return res, sink, nil
}

// liveRun feeds the beat rate events/s for seconds, into the fast sink.
func (r *runner) liveRun(ctx context.Context, rate, seconds float64) (RunResult, error) {
	n := min(r.data.N, int(rate*seconds))
	d := &Data{N: n, Bytes: r.data.Bytes[:r.data.Ends[n-1]], Ends: r.data.Ends[:n]}
	srv, err := NewServer(d, ServerOptions{Rate: rate, GraphQL: r.graphql})
	if err != nil {
		return RunResult{}, err
	}
	defer srv.Close()
	rec := NewRecorder(srv.Emitted, n*5/4)
	sink := NewSink(rec) // parses every request: the rate is low
	res, err := r.runBeat(ctx, beatRun{name: "fast-sink-live", data: d, output: sink, rec: rec, flush: r.o.FlushTimeout,
		timeout: r.timeout(n) + time.Duration(seconds*float64(time.Second))}, srv)
	if err != nil {
		return res, err
	}
	res.Docs = sink.Docs()
	res.DocsPerSec = float64(res.Docs) / res.Seconds
	r.printRun(fmt.Sprintf("beat -> fast sink, live stream paced at %.0f indicators/s for %.0f s (latency of a live feed)", rate, seconds), res)
	return res, nil
}

// octiRun is the cross-check: the fast-sink run fed by octiserver.
func (r *runner) octiRun(ctx context.Context) (RunResult, error) {
	rec := NewRecorder(func(int) int64 { return 0 }, 0)
	sink := NewSink(rec)
	sink.ParseEvery = sinkParseEvery
	res, err := r.runBeat(ctx, beatRun{name: "fast-sink-octiserver", data: r.data, octi: true, output: sink, rec: rec,
		flush: r.o.FlushTimeout, timeout: r.timeout(r.data.N)}, nil)
	if err != nil {
		return res, err
	}
	res.Docs = sink.Docs()
	res.DocsPerSec = float64(res.Docs) / res.Seconds
	res.OutMBPerSec = float64(sink.Bytes()) / 1e6 / res.Seconds
	r.printRun("beat -> fast sink, stream served by octiserver (cross-check; throughput only)", res)
	return res, nil
}

// bareRun is baseline 1.
func (r *runner) bareRun(ctx context.Context) (RunResult, error) {
	srv, err := NewServer(r.data, ServerOptions{})
	if err != nil {
		return RunResult{}, err
	}
	defer srv.Close()
	cpu0, busy0 := selfCPU(), machineBusy()
	b, err := BareLoop(ctx, srv.URL(), r.data.N)
	if err != nil {
		return RunResult{}, err
	}
	cpu := (selfCPU() - cpu0).Seconds()
	busy := (machineBusy() - busy0).Seconds()
	res := RunResult{Indicators: b.Events, Seconds: b.Duration.Seconds()}
	res.IndicatorsPerSec = float64(b.Events) / res.Seconds
	res.MBPerSec = float64(len(r.data.Bytes)) / 1e6 / res.Seconds
	res.CPUSeconds = cpu
	res.CPUPerIndicator = cpu * 1e6 / float64(b.Events)
	res.Cores = cpu / res.Seconds
	res.OtherCores = max(0, (busy-cpu)/res.Seconds)
	r.printRun("bare loop (bufio lines + encoding/json; CPU includes the stream server)", res)
	return res, nil
}

// profileRun repeats run (a) with libbeat's pprof endpoint on and saves
// the profiles.
func (r *runner) profileRun(ctx context.Context, rep *Report, seconds float64) error {
	prof := &profileReq{
		seconds: int(math.Ceil(seconds*1.5)) + 5, // the profiled run is slower; idle time adds no samples
		cpuPath: filepath.Join(r.o.Dir, "cpu-fast-sink.pprof"),
		heap:    filepath.Join(r.o.Dir, "heap-fast-sink.pprof"),
		errs:    make(chan error, 1),
	}
	r.printf("profile: a profiled fast-sink run (CPU profile of up to %d s from the first event; the run waits for it)\n", prof.seconds)
	// The harness is profiled too (this process: stream server and sink).
	harnessPath := filepath.Join(r.o.Dir, "cpu-harness.pprof")
	hf, err := os.Create(harnessPath)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(hf); err != nil {
		hf.Close()
		return err
	}
	_, _, err = r.fastSinkRun(ctx, "fast-sink-profiled", prof)
	pprof.StopCPUProfile()
	hf.Close()
	if err != nil {
		return err
	}
	if top, err := pprofTop(harnessPath, "-cum", "-nodecount=25"); err == nil {
		r.printf("profile: the harness (this process) during the profiled run, %s:\n%s\n", harnessPath, indent(trimPprofHeader(top)))
	}
	if err := <-prof.errs; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	shares, total, top, err := analyzeCPU(prof.cpuPath, 30)
	if err != nil {
		return err
	}
	rep.CPUProfile, rep.CPUProfileFile = shares, prof.cpuPath
	r.printf("profile: %s (%.2f s of CPU samples); heap: %s\n", prof.cpuPath, total.Seconds(), prof.heap)
	r.printf("profile: CPU by category (leaf-most matching frame owns the sample):\n")
	for _, s := range shares {
		r.printf("  %5.1f%%  %6.2fs  %s\n", s.Percent, s.Seconds, s.Category)
	}
	r.printf("profile: top functions (flat):\n%s\n", indent(trimPprofHeader(top)))
	if cum, err := pprofTop(prof.cpuPath, "-cum", "-nodecount=40"); err == nil {
		r.printf("profile: top functions (cumulative):\n%s\n", indent(trimPprofHeader(cum)))
	}
	if alloc, err := pprofTop(prof.heap, "-sample_index=alloc_space", "-nodecount=20"); err == nil {
		r.printf("profile: allocations (alloc_space):\n%s\n", indent(trimPprofHeader(alloc)))
	}
	return nil
}

func trimPprofHeader(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if strings.Contains(l, "flat%") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return s
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// engineRuns are run (b) and baseline 2 on the real engine.
func (r *runner) engineRuns(ctx context.Context, rep *Report) error {
	engineURL, stop, err := r.o.Engine()
	if err != nil {
		return err
	}
	defer stop()
	r.printf("engine: %s\n", engineURL)
	upstream, err := url.Parse(engineURL)
	if err != nil {
		return err
	}
	proxy := esproxy.Handler(upstream)

	// Warm the engine up (JIT, template) with the beat on the first events.
	w := min(r.data.N, 20000)
	warm := &Data{N: w, Bytes: r.data.Bytes[:r.data.Ends[w-1]], Ends: r.data.Ends[:w]}
	if err := deleteIndex(engineURL, benchIndex); err != nil {
		return err
	}
	{
		srv, rec, err := r.newRunRecorder(warm)
		if err != nil {
			return err
		}
		res, err := r.runBeat(ctx, beatRun{name: "opensearch-warmup", data: warm, output: NewTiming(proxy, rec, nil), rec: rec,
			flush: r.o.FlushTimeout, timeout: r.timeout(w) + 2*time.Minute}, srv)
		srv.Close()
		if err != nil {
			return err
		}
		r.printf("engine warm-up: %d indicators at %.0f/s\n", w, res.IndicatorsPerSec)
	}
	if err := deleteIndex(engineURL, benchIndex); err != nil {
		return err
	}

	rawPath := filepath.Join(r.o.Dir, "opensearch-bulks.capture")
	capPath := filepath.Join(r.o.Dir, "opensearch-docs.ndjson")
	capFile, err := os.Create(rawPath)
	if err != nil {
		return err
	}
	if !r.o.KeepCapture {
		defer os.Remove(rawPath)
		defer os.Remove(capPath)
	}
	srv, rec, err := r.newRunRecorder(r.data)
	if err != nil {
		capFile.Close()
		return err
	}
	timing := NewTiming(proxy, rec, capFile)
	timing.ParseEvery = sinkParseEvery
	res, err := r.runBeat(ctx, beatRun{name: "opensearch", data: r.data, output: timing, rec: rec,
		flush: r.o.FlushTimeout, timeout: r.timeout(r.data.N) + time.Duration(r.data.N)*time.Second/500}, srv)
	srv.Close()
	ferr := timing.Flush()
	capFile.Close()
	if err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	if _, err := ExpandCapture(rawPath, capPath); err != nil {
		return err
	}
	res.Docs = timing.Docs()
	res.DocsPerSec = float64(res.Docs) / res.Seconds
	rep.OpenSearch = &res
	r.printRun("beat -> OpenSearch (through the test bed's compatibility proxy)", res)
	n, err := countDocs(engineURL, benchIndex)
	if err != nil {
		return err
	}
	r.printf("  engine holds %d documents; bulk answers with item errors: %d, failed bulk requests: %d\n",
		n, timing.ErrorBulks(), timing.Failed())

	// Baseline 2: the same documents, straight in.
	if err := deleteIndex(engineURL, benchIndex); err != nil {
		return err
	}
	lr, err := Load(ctx, engineURL, capPath, 2, 1000)
	if err != nil {
		return err
	}
	lres := RunResult{Indicators: r.data.N, Docs: int64(lr.Docs), Seconds: lr.Duration.Seconds()}
	lres.IndicatorsPerSec = float64(r.data.N) / lres.Seconds
	lres.DocsPerSec = float64(lr.Docs) / lres.Seconds
	lres.OutMBPerSec = float64(lr.Bytes) / 1e6 / lres.Seconds
	rep.Loader = &lres
	r.printRun("plain bulk loader -> OpenSearch (2 workers, 1000 docs per bulk, no compression; indicators/s = N / its time)", lres)
	n, err = countDocs(engineURL, benchIndex)
	if err != nil {
		return err
	}
	r.printf("  engine holds %d documents; bulk answers with item errors: %d\n", n, lr.ErrorBulks)
	rep.RatioOSLoader = res.IndicatorsPerSec / lres.IndicatorsPerSec
	return deleteIndex(engineURL, benchIndex)
}

func (r *runner) printRun(what string, res RunResult) {
	r.printf("%s:\n", what)
	r.printf("  %d indicators in %.2f s: %.0f indicators/s, %.1f MB/s of SSE", res.Indicators, res.Seconds, res.IndicatorsPerSec, res.MBPerSec)
	if res.Docs > 0 {
		r.printf("; %d docs (%.0f docs/s", res.Docs, res.DocsPerSec)
		if res.OutMBPerSec > 0 {
			r.printf(", %.1f MB/s of bulk JSON", res.OutMBPerSec)
		}
		r.printf(")")
	}
	r.printf("\n")
	if res.Latency != nil {
		r.printf("  latency emitted -> acknowledged by the output (per document): p50 %.0f ms, p99 %.0f ms, max %.0f ms",
			res.Latency.P50ms, res.Latency.P99ms, res.Latency.Maxms)
		if res.Latency.Unknown > 0 {
			r.printf(" (%d documents not timed)", res.Latency.Unknown)
		}
		r.printf("\n")
	}
	if res.PeakRSSMB > 0 {
		r.printf("  beat: peak RSS %.0f MB, CPU %.2f s in the window (%.1f us per indicator, %.2f cores), %.2f s in total; log: %d errors, %d warnings; %d stream connection(s)\n",
			res.PeakRSSMB, res.CPUSeconds, res.CPUPerIndicator, res.Cores, res.CPUTotalSeconds, res.LogErrors, res.LogWarnings, res.Connections)
		r.printf("  harness (stream server + sink/proxy, this process): %.2f s CPU in the window; rest of the machine: %.2f cores busy on average\n", res.HarnessCPU, res.OtherCores)
	} else if res.CPUSeconds > 0 {
		r.printf("  CPU %.2f s (%.1f us per indicator, %.2f cores); rest of the machine: %.2f cores busy on average\n", res.CPUSeconds, res.CPUPerIndicator, res.Cores, res.OtherCores)
	}
}

func (r *runner) finish(rep *Report) {
	add := func(name string, v float64, want string, met bool) {
		rep.Targets = append(rep.Targets, TargetRow{Target: name, Value: round(v, 3), Want: want, Met: met})
	}
	if f := rep.FastSink; f != nil {
		add("indicators/s into the fast sink", f.IndicatorsPerSec, ">= 40000", f.IndicatorsPerSec >= 40000)
		add("beat (fast sink) / bare loop", rep.RatioFastBare, ">= 0.5", rep.RatioFastBare >= 0.5)
		if f.Latency != nil {
			add("p99 latency, fast sink (ms)", f.Latency.P99ms, "<= 1500", f.Latency.P99ms <= 1500)
		}
		add(fmt.Sprintf("peak RSS over %d indicators (MB)", rep.N), f.PeakRSSMB, "<= 150 (over 1,000,000)", f.PeakRSSMB <= 150)
	}
	if l := rep.Live; l != nil && l.Latency != nil {
		add(fmt.Sprintf("p99 latency, live at %.0f/s (ms)", rep.LiveRate), l.Latency.P99ms, "<= 1500", l.Latency.P99ms <= 1500)
	}
	if rep.OpenSearch != nil && rep.Loader != nil {
		add("beat (OpenSearch) / plain loader", rep.RatioOSLoader, ">= 0.8", rep.RatioOSLoader >= 0.8)
		if l := rep.OpenSearch.Latency; l != nil {
			add("p99 latency, OpenSearch (ms)", l.P99ms, "<= 1500", l.P99ms <= 1500)
		}
	}
	rep.Notes = []string{
		"latency: from the write of the event's last byte by the stream server to the answer of the bulk request carrying the document (libbeat acknowledges right after reading it)",
		"rates: N / (last document answered - first event written); beat start-up is outside the window",
		"CPU and peak RSS: /proc/<pid>/stat and VmHWM of the beat when its saved position reached the last event",
		"the harness (stream server, sink) runs in the bench process on the same cores; see harness_cpu_s",
		"measured on a shared machine: expect +/-10-25% noise between runs",
	}
	r.printf("\n== summary (N=%d, %.0f-byte events, %d cores, queue.mem.flush.timeout %s) ==\n", rep.N, rep.AvgEventBytes, rep.GOMAXPROCS, rep.FlushTimeout)
	if f := rep.FastSink; f != nil {
		r.printf("beat -> fast sink:   %8.0f indicators/s  %6.1f MB/s  p50 %5.0f ms  p99 %5.0f ms  peak RSS %4.0f MB  CPU %6.2f s (median of %d: %v)\n",
			f.IndicatorsPerSec, f.MBPerSec, f.Latency.P50ms, f.Latency.P99ms, f.PeakRSSMB, f.CPUSeconds, len(rep.FastSinkRuns), rep.FastSinkRuns)
	}
	if l := rep.Live; l != nil && l.Latency != nil {
		r.printf("beat, live %5.0f/s:                                 p50 %5.0f ms  p99 %5.0f ms  peak RSS %4.0f MB  (%.1f us CPU per indicator)\n",
			rep.LiveRate, l.Latency.P50ms, l.Latency.P99ms, l.PeakRSSMB, l.CPUPerIndicator)
	}
	if b := rep.Bare; b != nil {
		r.printf("bare loop:           %8.0f indicators/s  %6.1f MB/s  (median of %d: %v)\n", b.IndicatorsPerSec, b.MBPerSec, len(rep.BareRuns), rep.BareRuns)
	}
	if o := rep.OctiServer; o != nil {
		r.printf("beat <- octiserver:  %8.0f indicators/s  %6.1f MB/s  (cross-check of the stream source)\n", o.IndicatorsPerSec, o.MBPerSec)
	}
	if o := rep.OpenSearch; o != nil {
		r.printf("beat -> OpenSearch:  %8.0f indicators/s  %6.1f MB/s  p50 %5.0f ms  p99 %5.0f ms  peak RSS %4.0f MB  CPU %6.2f s\n",
			o.IndicatorsPerSec, o.MBPerSec, o.Latency.P50ms, o.Latency.P99ms, o.PeakRSSMB, o.CPUSeconds)
	}
	if l := rep.Loader; l != nil {
		r.printf("plain bulk loader:   %8.0f indicators/s  (%0.f docs/s)\n", l.IndicatorsPerSec, l.DocsPerSec)
	}
	if rep.RatioFastBare > 0 {
		r.printf("ratio beat(fast sink) / bare loop:       %.2f\n", rep.RatioFastBare)
	}
	if rep.RatioOSLoader > 0 {
		r.printf("ratio beat(OpenSearch) / plain loader:   %.2f\n", rep.RatioOSLoader)
	}
	r.printf("targets:\n")
	for _, t := range rep.Targets {
		mark := "MET    "
		if !t.Met {
			mark = "NOT MET"
		}
		r.printf("  %s  %-40s %10.2f  (want %s)\n", mark, t.Target, t.Value, t.Want)
	}
	for _, n := range rep.Notes {
		r.printf("note: %s\n", n)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(rep)
	r.printf("BENCH_JSON %s", buf.String())
}

// measureSink posts body to a fresh sink over loopback HTTP for d.
func measureSink(body []byte, encoding string, d time.Duration) SinkAlone {
	sink := NewSink(nil)
	srv, err := ServeHTTPHandler(sink)
	if err != nil {
		return SinkAlone{}
	}
	defer srv.Close()
	client := &http.Client{}
	cpu0 := selfCPU()
	start := time.Now()
	for time.Since(start) < d {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/_bulk", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			return SinkAlone{}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	el := time.Since(start)
	cpu := selfCPU() - cpu0
	docs := sink.Docs()
	enc := encoding
	if enc == "" {
		enc = "uncompressed"
	}
	return SinkAlone{DocsPerSec: float64(docs) / el.Seconds(), CPUPerDoc: float64(cpu.Microseconds()) / float64(max(docs, 1)), Encoding: enc}
}
