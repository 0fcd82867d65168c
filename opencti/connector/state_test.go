package connector

import (
	"errors"
	"testing"

	"github.com/openctibeat/openctibeat/checkpoint"
)

func TestEncodeState(t *testing.T) {
	tests := []struct {
		name string
		in   checkpoint.Position
		// want is what pycti's json.dumps gives for the same dict.
		want string
	}{
		{"tailing", checkpoint.Position{StartFrom: "1714557600001-0"}, `{"start_from": "1714557600001-0"}`},
		{"recovering", checkpoint.Position{StartFrom: "0-0", RecoverUntil: "2024-05-01T10:00:00.000Z"},
			`{"start_from": "0-0", "recover_until": "2024-05-01T10:00:00.000Z"}`},
		{"quotes escaped", checkpoint.Position{StartFrom: `a"b`}, `{"start_from": "a\"b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EncodeState(tt.in); got != tt.want {
				t.Fatalf("EncodeState = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseState(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    checkpoint.Position
		wantErr bool
		noState bool
	}{
		{"compact", `{"start_from":"5-1"}`, checkpoint.Position{StartFrom: "5-1"}, false, false},
		{"pycti", `{"start_from": "0-0", "recover_until": "2024-05-01T10:00:00.000Z"}`,
			checkpoint.Position{StartFrom: "0-0", RecoverUntil: "2024-05-01T10:00:00.000Z"}, false, false},
		{"recover_until null", `{"start_from": "5-1", "recover_until": null}`, checkpoint.Position{StartFrom: "5-1"}, false, false},
		{"recover_until false", `{"start_from": "5-1", "recover_until": false}`, checkpoint.Position{StartFrom: "5-1"}, false, false},
		{"iso start", `{"start_from": "2024-05-01T10:00:00Z"}`, checkpoint.Position{StartFrom: "2024-05-01T10:00:00Z"}, false, false},
		{"zero", `{"start_from": "0"}`, checkpoint.Position{StartFrom: "0"}, false, false},
		{"pycti 4", `{"connectorLastEventId": "7-0"}`, checkpoint.Position{StartFrom: "7-0"}, false, false},
		{"extra keys ignored", `{"start_from": "7-0", "x": [1]}`, checkpoint.Position{StartFrom: "7-0"}, false, false},
		{"empty", ``, checkpoint.Position{}, true, true},
		{"blank", "  ", checkpoint.Position{}, true, true},
		{"null", `null`, checkpoint.Position{}, true, true},
		{"not json", `start_from=5`, checkpoint.Position{}, true, false},
		{"array", `[]`, checkpoint.Position{}, true, false},
		{"no start_from", `{"recover_until": "2024-05-01T10:00:00Z"}`, checkpoint.Position{}, true, false},
		{"number start_from", `{"start_from": 5}`, checkpoint.Position{}, true, false},
		{"bad start_from", `{"start_from": "yesterday"}`, checkpoint.Position{}, true, false},
		{"bad recover_until", `{"start_from": "0-0", "recover_until": "soon"}`, checkpoint.Position{}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseState(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want || errors.Is(err, errNoState) != tt.noState {
				t.Fatalf("ParseState(%q) = %+v, %v", tt.in, got, err)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, p := range []checkpoint.Position{{StartFrom: "0-0"}, {StartFrom: "1-2", RecoverUntil: "2024-05-01T10:00:00.000Z"}} {
		got, err := ParseState(EncodeState(p))
		if err != nil || got != p {
			t.Fatalf("round trip of %+v = %+v, %v", p, got, err)
		}
	}
}
