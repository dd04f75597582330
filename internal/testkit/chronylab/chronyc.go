package chronylab

import (
	"fmt"
	"strconv"
)

// The rows of `chronyc -c -n tracking`, `sources` and `sourcestats`, typed,
// so that tests name fields instead of counting CSV columns.

// Tracking is `chronyc tracking`.
type Tracking struct {
	RefID, ReferenceName string
	Stratum              float64
	RefTime              float64 // seconds since the epoch
	SystemTime           float64 // the System time line: + means the clock is slow
	LastOffset           float64
	RMSOffset            float64
	Frequency            float64 // ppm, + fast
	ResidualFrequency    float64
	Skew                 float64
	RootDelay            float64
	RootDispersion       float64
	UpdateInterval       float64
	Leap                 string // "Normal", "Insert second", "Delete second", "Not synchronised"
}

// Source is one line of `chronyc sources`.
type Source struct {
	Mode, State, Name string // mode ^ = # and state * + - ? x ~
	Stratum           float64
	Poll              int
	Reach             int64 // the register, read from chronyc's octal
	LastRx            float64
	Offset            float64 // adjusted offset
	MeasuredOffset    float64
	Error             float64
}

// SourceStats is one line of `chronyc sourcestats`.
type SourceStats struct {
	Name                                 string
	Samples, Runs                        float64
	Span                                 float64
	ResidualFrequency, Skew, Offset, Std float64
}

// fields parses a CSV row's columns as named by dst: a *string, *float64,
// *int or *int64 (octal) per column, in order.
func fields(row []string, dst ...any) error {
	if len(row) < len(dst) {
		return fmt.Errorf("chronyc row %v has %d fields, want %d", row, len(row), len(dst))
	}
	for i, d := range dst {
		var err error
		switch p := d.(type) {
		case *string:
			*p = row[i]
		case *float64:
			*p, err = strconv.ParseFloat(row[i], 64)
		case *int:
			*p, err = strconv.Atoi(row[i])
		case *int64:
			*p, err = strconv.ParseInt(row[i], 8, 64)
		}
		if err != nil {
			return fmt.Errorf("chronyc field %d of %v: %w", i, row, err)
		}
	}
	return nil
}

// TrackingReport runs `chronyc tracking` over UDP.
func (l *Lab) TrackingReport() (Tracking, error) {
	rows, err := l.Chronyc("tracking")
	if err != nil {
		return Tracking{}, err
	}
	if len(rows) != 1 {
		return Tracking{}, fmt.Errorf("chronyc tracking printed %d rows", len(rows))
	}
	var t Tracking
	err = fields(rows[0], &t.RefID, &t.ReferenceName, &t.Stratum, &t.RefTime, &t.SystemTime, &t.LastOffset, &t.RMSOffset,
		&t.Frequency, &t.ResidualFrequency, &t.Skew, &t.RootDelay, &t.RootDispersion, &t.UpdateInterval, &t.Leap)
	return t, err
}

// Sources runs `chronyc sources` over UDP.
func (l *Lab) Sources() ([]Source, error) {
	rows, err := l.Chronyc("sources")
	if err != nil {
		return nil, err
	}
	out := make([]Source, len(rows))
	for i, row := range rows {
		s := &out[i]
		if err := fields(row, &s.Mode, &s.State, &s.Name, &s.Stratum, &s.Poll, &s.Reach, &s.LastRx, &s.Offset, &s.MeasuredOffset, &s.Error); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SourceStatistics runs `chronyc sourcestats` over UDP.
func (l *Lab) SourceStatistics() ([]SourceStats, error) {
	rows, err := l.Chronyc("sourcestats")
	if err != nil {
		return nil, err
	}
	out := make([]SourceStats, len(rows))
	for i, row := range rows {
		s := &out[i]
		if err := fields(row, &s.Name, &s.Samples, &s.Runs, &s.Span, &s.ResidualFrequency, &s.Skew, &s.Offset, &s.Std); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ServerStats is the start of `chronyc serverstats`, the same in every
// chrony 4 release.
type ServerStats struct {
	NTPReceived, NTPDropped, CommandReceived, CommandDropped, LogDropped float64
}

// ServerStatistics runs `chronyc serverstats` over the unix socket, the only
// way chronyd serves it.
func (l *Lab) ServerStatistics() (ServerStats, error) {
	rows, err := l.ChronycUnix("serverstats")
	if err != nil {
		return ServerStats{}, err
	}
	if len(rows) != 1 {
		return ServerStats{}, fmt.Errorf("chronyc serverstats printed %d rows", len(rows))
	}
	var s ServerStats
	err = fields(rows[0], &s.NTPReceived, &s.NTPDropped, &s.CommandReceived, &s.CommandDropped, &s.LogDropped)
	return s, err
}
