package sightings

import (
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	conf "github.com/elastic/elastic-agent-libs/config"
	"github.com/elastic/go-elasticsearch/v8"

	"github.com/openctibeat/openctibeat/testbed/esproxy"
)

func TestESConfigFromOutput(t *testing.T) {
	tests := []struct {
		name      string
		out       map[string]any
		wantAddrs []string
		wantUser  string
		wantKey   string
		wantErr   string
	}{
		{
			name:      "hosts with protocol and path, one per worker",
			out:       map[string]any{"hosts": []string{"es1", "es2:9201", "http://es3:9202/x"}, "protocol": "https", "path": "/prefix", "worker": 2, "username": "u", "password": "p"},
			wantAddrs: []string{"https://es1:9200/prefix", "https://es2:9201/prefix", "http://es3:9202/x"},
			wantUser:  "u",
		},
		{
			name:      "api key as libbeat takes it, id:key",
			out:       map[string]any{"hosts": []string{"localhost:9200"}, "api_key": "myid:mykey"},
			wantAddrs: []string{"http://localhost:9200"},
			wantKey:   base64.StdEncoding.EncodeToString([]byte("myid:mykey")),
		},
		{name: "no hosts", out: map[string]any{"username": "u"}, wantErr: "set hosts"},
		{name: "unreadable CA", out: map[string]any{"hosts": []string{"x"}, "ssl.certificate_authorities": []string{"/nonexistent/ca.pem"}}, wantErr: "ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ESConfigFromOutput(conf.MustNewConfigFrom(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.wantAddrs, got.Addresses); d != "" {
				t.Fatal(d)
			}
			if got.Username != tt.wantUser || got.APIKey != tt.wantKey || got.Transport == nil {
				t.Fatalf("user %q key %q transport %v", got.Username, got.APIKey, got.Transport)
			}
		})
	}
}

// TestESConfigTLS talks to a TLS server whose CA is only known through
// ssl.certificate_authorities, then with verification_mode none.
func TestESConfigTLS(t *testing.T) {
	var auth string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Header().Set(esproxy.ProductHeader, esproxy.ProductValue)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":{"number":"8.19.0"},"tagline":"You Know, for Search"}`))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]map[string]any{
		"certificate_authorities": {"hosts": []string{srv.URL}, "ssl.certificate_authorities": []string{ca}, "api_key": "id:key"},
		"verification_mode none":  {"hosts": []string{srv.URL}, "ssl.verification_mode": "none", "api_key": "id:key"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := ESConfigFromOutput(conf.MustNewConfigFrom(out))
			if err != nil {
				t.Fatal(err)
			}
			es, err := elasticsearch.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := es.Info()
			if err != nil {
				t.Fatalf("Info over TLS: %v", err)
			}
			res.Body.Close()
			if auth != "APIKey "+base64.StdEncoding.EncodeToString([]byte("id:key")) {
				t.Fatalf("Authorization %q", auth)
			}
		})
	}
	// Without the CA the server is refused.
	cfg, err := ESConfigFromOutput(conf.MustNewConfigFrom(map[string]any{"hosts": []string{srv.URL}}))
	if err != nil {
		t.Fatal(err)
	}
	es, _ := elasticsearch.NewClient(cfg)
	if res, err := es.Info(); err == nil {
		res.Body.Close()
		t.Fatal("an unknown CA was accepted")
	}
}
