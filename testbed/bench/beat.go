package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openctibeat/openctibeat/checkpoint"
)

// beatConfig is one run's configuration of the beat.
type beatConfig struct {
	StreamURL    string
	OutputURL    string
	Index        string
	FlushTimeout string // queue.mem.flush.timeout; "" = libbeat's default
	// Tuned adds the reference configuration's output and queue sizes
	// (opencti-beat.yml: 2 workers, bulk_max_size 800, queue.mem.events
	// 1600); false leaves libbeat's (1 worker, 1600, 3200).
	Tuned     bool
	PprofPort int    // > 0: http endpoint with pprof on this port
	Extra     string // more YAML
}

const benchToken = "bench-token"

func (c beatConfig) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, `openctibeat:
  opencti.url: %q
  opencti.token: %q
  start.from: "0-0"
  start.recover: false
  mode: ecs
  ecs.index: %q
  # The sightings module polls alerts once a minute; not part of the stream.
  sightings.enabled: false
output.elasticsearch:
  hosts: [%q]
setup.ilm.enabled: false
logging.level: info
logging.to_stderr: true
logging.to_files: false
`, c.StreamURL, benchToken, c.Index, c.OutputURL)
	if c.FlushTimeout != "" {
		fmt.Fprintf(&b, "queue.mem.flush.timeout: %s\n", c.FlushTimeout)
	}
	if c.Tuned {
		b.WriteString("output.elasticsearch.worker: 2\noutput.elasticsearch.bulk_max_size: 800\nqueue.mem.events: 1600\n")
	}
	if c.PprofPort > 0 {
		fmt.Fprintf(&b, "http.enabled: true\nhttp.host: 127.0.0.1\nhttp.port: %d\nhttp.pprof.enabled: true\n", c.PprofPort)
	}
	b.WriteString(c.Extra)
	return b.String()
}

// beatProc is one running beat.
type beatProc struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	logFile *os.File
	exited  chan struct{}
	err     error
}

// startBeat runs binary with its home, configuration and data in dir
// (emptied first).
func startBeat(binary, dir string, cfg beatConfig) (*beatProc, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "opencti-beat.yml"), []byte(cfg.yaml()), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "beat.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "-e", "--path.home", dir, "--path.config", dir, "--path.data", filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &beatProc{cmd: cmd, dir: dir, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *beatProc) pid() int { return p.cmd.Process.Pid }

// position is the saved stream position.
func (p *beatProc) position() (string, bool) {
	pos, ok, err := checkpoint.NewStore(filepath.Join(p.dir, "data", "opencti-stream-position.json")).Load()
	if err != nil || !ok {
		return "", false
	}
	return pos.StartFrom, true
}

// waitPosition waits until the saved position is last.
func (p *beatProc) waitPosition(ctx context.Context, last string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond) // the window ends at the last answer, not at the poll
	defer tick.Stop()
	for {
		if pos, ok := p.position(); ok && pos == last {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("the beat exited early (%v); see %s", p.err, p.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			pos, _ := p.position()
			return fmt.Errorf("the beat did not reach %s within %s (position %q); see %s", last, timeout, pos, p.logPath)
		case <-tick.C:
		}
	}
}

// stop ends the beat with SIGTERM (SIGKILL after 30 s).
func (p *beatProc) stop() {
	defer p.logFile.Close()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail is the end of the beat's log.
func (p *beatProc) logTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// logErrors counts the beat's log lines at level error or warn.
func (p *beatProc) logErrors() (errs, warns int) {
	b, _ := os.ReadFile(p.logPath)
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		switch {
		case bytes.Contains(line, []byte(`"log.level":"error"`)):
			errs++
		case bytes.Contains(line, []byte(`"log.level":"warn"`)):
			warns++
		}
	}
	return errs, warns
}

// procStats reads a process's CPU time (user+system) and peak RSS.
type procStats struct {
	CPU     time.Duration
	PeakRSS int64 // bytes (VmHWM)
	RSS     int64 // bytes (VmRSS)
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

func readProcStats(pid int) (procStats, error) {
	var st procStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return st, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	st.CPU = time.Duration(ut+stt) * time.Second / clockTicks
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for line := range strings.SplitSeq(string(s), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb := func() int64 {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
		switch k {
		case "VmHWM":
			st.PeakRSS = kb()
		case "VmRSS":
			st.RSS = kb()
		}
	}
	return st, nil
}

// machineBusy is the CPU time all cores of the machine spent busy (from
// /proc/stat: everything but idle and iowait).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are already in user
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// selfCPU is this process's CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// freePort finds a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// fetchTo saves an HTTP GET into path.
func fetchTo(ctx context.Context, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
