//go:build integration

package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// beatBinary is the beat built by TestMain.
var beatBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "openctibeat-cmd-bin")
	if err != nil {
		panic(err)
	}
	beatBinary = filepath.Join(dir, "openctibeat")
	build := exec.Command("go", "build", "-o", beatBinary, "github.com/openctibeat/openctibeat")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the beat failed:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runTestOpenCTI runs `openctibeat test opencti` with a configuration file
// pointing at base.
func runTestOpenCTI(t *testing.T, base, token string) (stdout, stderr string, exitCode int) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`openctibeat:
  opencti.url: %q
  opencti.token: %q
  stream.id: feed-1
output.elasticsearch.hosts: ["127.0.0.1:9"]
logging.to_stderr: true
logging.to_files: false
`, base, token)
	if err := os.WriteFile(filepath.Join(dir, "opencti-beat.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(beatBinary, "test", "opencti", "--path.home", dir, "--path.config", dir, "--path.data", filepath.Join(dir, "data"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("test opencti did not finish within 2 minutes:\n%s\n%s", out.String(), errOut.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		exitCode = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	if strings.Contains(out.String()+errOut.String(), token) {
		t.Fatalf("the output shows the token:\n%s\n%s", out.String(), errOut.String())
	}
	return out.String(), errOut.String(), exitCode
}

func TestBinaryTestOpenCTI(t *testing.T) {
	srv := newOctiServer(t)
	checks := []string{"opencti url", "connection", "tls", "token", "graphql", `live stream "feed-1"`}

	t.Run("all OK", func(t *testing.T) {
		stdout, stderr, code := runTestOpenCTI(t, srv.URL(), testToken)
		if code != 0 {
			t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		for _, c := range checks {
			if !strings.Contains(stdout, c+"... OK") {
				t.Errorf("no %q... OK line:\n%s", c, stdout)
			}
		}
		if strings.Contains(stdout, "ERROR") {
			t.Errorf("an ERROR line:\n%s", stdout)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		stdout, stderr, code := runTestOpenCTI(t, srv.URL(), "wrong-token-value")
		if code == 0 {
			t.Fatalf("exit status 0 with a bad token\nstdout:\n%s", stdout)
		}
		if !strings.Contains(stdout, "token... ERROR the token is invalid: check openctibeat.opencti.token") {
			t.Fatalf("the token check does not fail clearly:\n%s", stdout)
		}
		if !strings.Contains(stderr, "OpenCTI checks failed: token") {
			t.Fatalf("stderr does not name the failed token check:\n%s", stderr)
		}
	})
}
