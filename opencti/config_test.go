package opencti

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.URL, c.Token = "https://opencti.example.com", "d434ce02-e58e-4cac-8b4c-42bf16748e84"
		return c
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"defaults with url and token", func(*Config) {}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "openctibeat.opencti.url is empty"},
		{"not http", func(c *Config) { c.URL = "ftp://x" }, "is not an http(s) URL"},
		{"no token", func(c *Config) { c.Token = "" }, "openctibeat.opencti.token is empty"},
		{"zero timeout", func(c *Config) { c.Transport.Timeout = 0 }, "openctibeat.opencti.timeout is 0s"},
		{"negative timeout", func(c *Config) { c.Transport.Timeout = -time.Second }, "set a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name, url, want string
		userinfo        bool
	}{
		{"plain", "https://opencti.example.com", "https://opencti.example.com", false},
		{"trailing slash", "https://opencti.example.com/", "https://opencti.example.com", false},
		{"user and password", "https://user:s3cret@opencti.example.com/", "https://opencti.example.com", true},
		{"user only", "https://user@opencti.example.com:8443/octi/", "https://opencti.example.com:8443/octi", true},
		{"empty password", "http://user:@127.0.0.1:8080", "http://127.0.0.1:8080", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{URL: tt.url}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL() = %q, want %q", got, tt.want)
			}
			if got := c.HasUserinfo(); got != tt.userinfo {
				t.Errorf("HasUserinfo() = %t, want %t", got, tt.userinfo)
			}
		})
	}
}
