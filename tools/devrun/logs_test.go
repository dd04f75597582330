package main

import "testing"

func TestReadableLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2026-12-04T17:42:29.919Z\twarn\treasonlog/reasonlog.go:87\tchronyd scrape failed\t{\"resource\": {\"service.name\": \"otelcol-chrony\"}, \"error\": \"tracking: no chronyd answered\"}",
			"2026-12-04T17:42:29.919Z  warn  chronyd scrape failed: tracking: no chronyd answered"},
		{"2026-12-04T17:42:29.919Z\tinfo\tx.go:1\tstarted\t{\"resource\": {}}", "2026-12-04T17:42:29.919Z  info  started"},
		{"plain line", "plain line"},
		{"a\t{not json", "a\t{not json"},
	}
	for _, tt := range tests {
		if got := readableLine(tt.in); got != tt.want {
			t.Errorf("readableLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
