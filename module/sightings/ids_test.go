package sightings

import "testing"

// TestSightingStixID pins the sighting ids: OpenCTI keeps them, so a
// change would make the beat write a second sighting of every indicator.
// Expected values computed with Python: uuid.uuid5(uuid.uuid5(UUID(
// "00abedb4-aa42-466c-9c01-fed23315a9b7"), "openctibeat/sightings"),
// indicator + "|" + identity).
func TestSightingStixID(t *testing.T) {
	tests := []struct {
		name, indicator, identity, want string
	}{
		{"indicator at a security platform", "a3f1c0de-0000-4000-8000-000000000001", "identity--774d9701-19f9-52e5-a26a-bb3fb98260e4",
			"sighting--945926b0-b7e8-5342-a5bc-6c558fbafdc2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sightingStixID(tt.indicator, tt.identity); got != tt.want {
				t.Errorf("sightingStixID = %s, want %s", got, tt.want)
			}
		})
	}
	if got, want := sightingNamespace.String(), "123b68ac-33a3-5e50-a479-9b613fa09079"; got != want {
		t.Errorf("sightingNamespace = %s, want %s", got, want)
	}
}
