// Package chronyclient asks chronyd for its reports and turns the replies into
// plain values: refclocks named as chronyc names them, sources with their
// statistics. Tracking and serverstats carry the time their reply arrived;
// sources carry none, and the scraper stamps them when it records them.
// codec.go is the only file that knows facebook/time's packet types.
package chronyclient

import "time"

// Leap status values as chronyd sends them (LEAP_* in ntp.h).
const (
	LeapNormal         = 0
	LeapInsertSecond   = 1
	LeapDeleteSecond   = 2
	LeapUnsynchronised = 3
)

// Tracking is the `chronyc tracking` report.
type Tracking struct {
	RefID uint32
	// ReferenceName is the reference's IP address, or for a refclock its
	// refid as text (PHC0), or empty while chronyd has no reference.
	ReferenceName string
	Stratum       uint16
	LeapStatus    uint16
	RefTime       time.Time
	// CurrentCorrection is chronyc's "System time": how far the system clock
	// still is from chronyd's estimate of true time, in seconds.
	CurrentCorrection float64
	LastOffset        float64
	RMSOffset         float64
	FrequencyPPM      float64
	ResidualFreqPPM   float64
	SkewPPM           float64
	RootDelay         float64
	// RootDispersion is as chronyd reports it: already grown since the last
	// update at skew + |residual frequency| + maxclockerror.
	RootDispersion     float64
	LastUpdateInterval float64
	// ReceivedAt is when the reply arrived, the instant the values describe.
	ReceivedAt time.Time
}

// Source modes as chronyd sends them.
const (
	ModeClient   = 0
	ModePeer     = 1
	ModeRefclock = 2
)

// Source is one line of `chronyc sources`, with its `sourcestats` line.
type Source struct {
	// Address is the IP address, or for a refclock its refid as text.
	Address string
	// Name is the name the source was configured with (chronyd's sourcename,
	// no DNS lookup), the refclock name, or the address when chronyd has none.
	Name         string
	Mode         uint16
	State        uint16
	Stratum      uint16
	Poll         int16
	Reachability uint16
	// SinceSample is the age of the last sample in seconds; HasSample is false
	// when the source has none yet.
	SinceSample    uint32
	HasSample      bool
	Offset         float64
	MeasuredOffset float64
	OffsetError    float64
	// Stats is nil when not asked for or when chronyd's statistics did not
	// match this source.
	Stats *SourceStats
}

// SourceStats is one line of `chronyc sourcestats`.
type SourceStats struct {
	Samples         uint32
	Runs            uint32
	SpanSeconds     uint32
	StdDev          float64
	ResidualFreqPPM float64
	SkewPPM         float64
	Offset          float64
	OffsetError     float64
}

// ServerStats is `chronyc serverstats`; fields a chronyd version does not
// report stay zero and Has says which it did.
type ServerStats struct {
	NTPHits, NTPDrops  uint64
	CmdHits, CmdDrops  uint64
	NKEHits, NKEDrops  uint64
	LogDrops           uint64
	NTPAuthHits        uint64
	NTPInterleavedHits uint64
	HasNKE, HasAuth    bool
	HasInterleaved     bool
	ReceivedAt         time.Time
}
