package alerts

import (
	"strings"
	"testing"
)

func TestValidateIndexName(t *testing.T) {
	tests := []struct {
		name, index, wantErr string
	}{
		{"ecs index", "logs-ti_openctibeat.indicator-default", ""},
		{"data stream backing index", ".ds-logs-ti_openctibeat.indicator-default-2024.05.01-000001", ""},
		{"hidden, digits, unicode", ".internal.alerts-security.alerts-default-000001é", ""},
		{"255 bytes", strings.Repeat("a", 255), ""},
		{"empty", "", "is empty"},
		{"256 bytes", strings.Repeat("a", 256), "is too long: 256 bytes, at most 255"},
		{"uppercase", "Threat-Index", "is not lowercase"},
		{"slash", "ti/../_search", `holds '/'`},
		{"backslash", `ti\x`, `holds '\\'`},
		{"star", "ti-*", `holds '*'`},
		{"question mark", "ti?pretty", `holds '?'`},
		{"quote", `ti"`, `holds '"'`},
		{"angle brackets (date math)", "<ti-{now/d}>", `holds '<'`},
		{"pipe", "a|b", `holds '|'`},
		{"comma", "a,b", `holds ','`},
		{"space", "a b", `holds ' '`},
		{"hash", "a#b", `holds '#'`},
		{"remote cluster", "remote:ti", `holds ':'`},
		{"starts with -", "-ti", `starts with '-'`},
		{"starts with _", "_all", `starts with '_'`},
		{"starts with +", "+ti", `starts with '+'`},
		{"dot", ".", `is "."`},
		{"dot dot", "..", `is ".."`},
		{"invalid UTF-8", "ti\xff", "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateIndexName(tt.index)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateIndexName(%q) = %v, want nil", tt.index, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateIndexName(%q) = %v, want an error with %q", tt.index, err, tt.wantErr)
			}
		})
	}
}

func TestValidateDocID(t *testing.T) {
	tests := []struct {
		name, id, wantErr string
	}{
		{"openctibeat id", "5d3f1c9a-6f1e-4c1a-9f0e-2b8c7a6d5e4f:pattern", ""},
		{"Elasticsearch auto id", "_tdUD3sBcVT20cvWAkpd", ""},
		{"any characters (sent as data)", "a/b?c#d e/../_search", ""},
		{"512 bytes", strings.Repeat("é", 256), ""},
		{"empty", "", "is empty"},
		{"513 bytes", strings.Repeat("a", 513), "is too long: 513 bytes, at most 512"},
		{"invalid UTF-8", "id\xfe", "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDocID(tt.id)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateDocID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateDocID(%q) = %v, want an error with %q", tt.id, err, tt.wantErr)
			}
		})
	}
}
