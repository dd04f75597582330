package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// readableLogs copies the collector's console log lines to w for a person:
// the console encoder ends each line with its fields as a JSON object (the
// whole telemetry resource among them), so each line keeps its time, level
// and message, and of the fields only the error, which says why.
func readableLogs(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(w, readableLine(sc.Text()))
	}
}

func readableLine(line string) string {
	i := strings.Index(line, "\t{")
	if i < 0 {
		return line
	}
	var fields map[string]any
	if json.Unmarshal([]byte(line[i+1:]), &fields) != nil {
		return line
	}
	parts := strings.Split(line[:i], "\t")
	// time, level, caller, message: the caller is for the collector's
	// developers.
	if len(parts) == 4 {
		parts = append(parts[:2], parts[3])
	}
	out := strings.Join(parts, "  ")
	if e, ok := fields["error"].(string); ok {
		out += ": " + e
	}
	return out
}
