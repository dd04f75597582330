package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// fetch reads the collector's Prometheus page: the same numbers a Prometheus
// server would get.
func fetch(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

var sample = regexp.MustCompile(`^([a-z_]+)(\{[^}]*\})? (\S+)`)

func label(labels, name string) string {
	m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(labels)
	if m == nil {
		return ""
	}
	return m[1]
}

// summarise turns a /metrics page into one line: the state, the reference,
// the bound and the offset still being slewed.
func summarise(page string) string {
	var up, maxErr, correction, stratum = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	state, reference := "", ""
	sources := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		m := sample.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		switch m[1] {
		case "chrony_up":
			up = v
		case "ntp_time_max_error_seconds":
			maxErr = v
		case "ntp_time_correction_seconds":
			correction = v
		case "ntp_stratum":
			stratum = v
		case "ntp_sync_state":
			if v == 1 {
				state = label(m[2], "sync_state")
			}
		case "ntp_reference_info":
			reference = label(m[2], "reference_name")
		case "ntp_source_offset_seconds":
			sources[label(m[2], "source_name")] = true
		}
	}
	switch {
	case math.IsNaN(up):
		return "no scrape yet"
	case up == 0:
		return "chronyd does not answer (chrony_up 0); the collector's WARN line says why"
	}
	bound := "none"
	if !math.IsInf(maxErr, 1) && !math.IsNaN(maxErr) {
		bound = duration(maxErr)
	}
	return fmt.Sprintf("%s to %s (stratum %v), max error %s, system time %s, %d sources",
		state, orDash(reference), stratum, bound, duration(correction), len(sources))
}

func duration(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return time.Duration(s * float64(time.Second)).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
