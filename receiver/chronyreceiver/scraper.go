package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/chronyclient"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/clockbound"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/crosscheck"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/metadata"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/reasonlog"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

// chronyReader is what the scraper needs of chronyd; tests put a fake here.
type chronyReader interface {
	Tracking(ctx context.Context) (chronyclient.Tracking, error)
	Sources(ctx context.Context, withStats bool) ([]chronyclient.Source, error)
	ServerStats(ctx context.Context) (chronyclient.ServerStats, error)
	// Endpoint is the endpoint that answered last, or the configured one.
	Endpoint() string
	Close() error
}

type readerFactory func(cfg *Config, set receiver.Settings) (chronyReader, error)

func newChronyReader(cfg *Config, set receiver.Settings) (chronyReader, error) {
	return chronyclient.New(cfg.Endpoint, transport.Options{ReplyDir: cfg.ReplySocketDir}, set.Logger)
}

type chronyScraper struct {
	cfg       *Config
	settings  receiver.Settings
	newReader readerFactory
	reader    chronyReader
	mb        *metadata.MetricsBuilder
	now       func() time.Time
	problems  reasonlog.Log
	stale     *staleTracker

	// stopping is cancelled when the receiver shuts down, to end a scrape
	// blocked on chronyd at once: the controller waits for a running scrape
	// before it shuts the scraper down.
	stopping context.Context
	stop     context.CancelFunc

	wantSources, wantStats, wantServer bool

	// crossCheck queries NTP servers on its own schedule; nil when off.
	crossCheck *crosscheck.Checker

	// host receives the receiver's component status: a recoverable error
	// while chronyd cannot be read, OK once it can. The health check turns
	// that into readiness, so a rollout whose pods cannot read chronyd stops
	// (deploy/README.md). reading is the last status reported.
	host    component.Host
	reading *bool
}

func newScraper(cfg *Config, set receiver.Settings, newReader readerFactory) *chronyScraper {
	stopping, stop := context.WithCancel(context.Background())
	return &chronyScraper{
		cfg:       cfg,
		settings:  set,
		newReader: newReader,
		mb:        metadata.NewMetricsBuilder(cfg.metricsConfig(), set),
		now:       time.Now,
		problems: reasonlog.Log{Logger: set.Logger, Recovered: "chronyd scrapes succeed again",
			Failed: "chronyd scrape failed; chrony.up and the missing series say so every scrape, this log only when the reason changes"},
		stale:       newStaleTracker(),
		stopping:    stopping,
		stop:        stop,
		wantSources: cfg.wantsSources(),
		wantStats:   cfg.wantsSourceStats(),
		wantServer:  cfg.wantsServerStats(),
	}
}

// start makes the client but does not connect: a chronyd that is not up yet
// is a scrape failure (chrony.up 0), not a reason to stop the collector.
func (s *chronyScraper) start(_ context.Context, host component.Host) error {
	s.host = host
	r, err := s.newReader(s.cfg, s.settings)
	if err != nil {
		return fmt.Errorf("chrony receiver: %w", err)
	}
	s.reader = r
	if cc := s.cfg.CrossCheck; len(cc.Servers) > 0 {
		s.crossCheck = crosscheck.New(crosscheck.Settings{Servers: cc.Servers, Interval: cc.Interval, Timeout: cc.Timeout, MaxDistance: cc.MaxDistance}, s.settings.Logger)
		s.crossCheck.Start()
	}
	return nil
}

func (s *chronyScraper) shutdown(context.Context) error {
	s.stop()
	if s.crossCheck != nil {
		s.crossCheck.Shutdown()
	}
	if s.reader == nil {
		return nil
	}
	return s.reader.Close()
}

// scrapeAndLog is what the collector calls. Failures are not returned: the
// controller would log each one as an ERROR with a stack trace, every
// interval, for as long as chronyd is down. chrony.up says it each scrape,
// and the log says it once per change of cause.
func (s *chronyScraper) scrapeAndLog(ctx context.Context) (pmetric.Metrics, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.stopping, cancel)()
	md, err := s.scrape(ctx)
	s.problems.Observe(err, zap.String("endpoint", s.reader.Endpoint()))
	s.reportStatus(err)
	s.stale.mark(md, pcommon.NewTimestampFromTime(s.now()))
	return md, nil
}

// reportStatus reports a change between reading chronyd and not. Only a
// failed tracking read counts: sources or serverstats that could not be read
// leave the bound, which is what the node is watched for, intact.
func (s *chronyScraper) reportStatus(err error) {
	var tracking *trackingError
	reading := err == nil || !errors.As(err, &tracking)
	if s.host == nil || (s.reading != nil && *s.reading == reading) {
		return
	}
	s.reading = &reading
	if reading {
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK))
		return
	}
	componentstatus.ReportStatus(s.host, componentstatus.NewRecoverableErrorEvent(err))
}

// trackingError marks a scrape that could not read chronyd's tracking
// report: no bound, chrony.up 0.
type trackingError struct{ err error }

func (e *trackingError) Error() string { return e.err.Error() }
func (e *trackingError) Unwrap() error { return e.err }

// scrape reads chronyd and builds the metrics. The error says what could not
// be read; what could is in the metrics all the same.
func (s *chronyScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	tracking, err := s.reader.Tracking(ctx)
	if err != nil {
		// Only chrony.up: values from an earlier scrape are not re-sent as fresh.
		now := pcommon.NewTimestampFromTime(s.now())
		s.mb.RecordChronyUpDataPoint(now, 0)
		s.recordCrossCheck(now, nil)
		return s.emit(), &trackingError{err}
	}
	ts := pcommon.NewTimestampFromTime(tracking.ReceivedAt)
	s.mb.RecordChronyUpDataPoint(ts, 1)
	bound := s.recordTracking(ts, tracking)
	s.recordCrossCheck(ts, &bound)
	if ce := s.settings.Logger.Check(zap.DebugLevel, "chronyd read"); ce != nil {
		// One line per scrape for a person debugging at a terminal, with the
		// collector's logs at debug level; free when debug logging is off.
		ce.Write(zap.String("endpoint", s.reader.Endpoint()), zap.String("reference", tracking.ReferenceName),
			zap.Uint16("stratum", tracking.Stratum), zap.String("state", syncStates[bound.State].String()),
			zap.String("max_error", formatSeconds(bound.MaxError)), zap.String("system_time", formatSeconds(tracking.CurrentCorrection)))
	}

	var errs []error
	if s.wantSources {
		sources, err := s.reader.Sources(ctx, s.wantStats)
		// Sources read before a failure are still good data.
		s.recordSources(pcommon.NewTimestampFromTime(s.now()), sources)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.wantServer {
		stats, err := s.reader.ServerStats(ctx)
		if err != nil {
			errs = append(errs, err)
		} else {
			s.recordServerStats(pcommon.NewTimestampFromTime(stats.ReceivedAt), stats)
		}
	}
	return s.emit(), errors.Join(errs...)
}

// emit records what every scrape sends, whatever chronyd said, and hands
// the scrape's metrics over: the collector build that read it, named by the
// build information the collector passed to the factory (ocb takes it from
// the builder config's dist section).
func (s *chronyScraper) emit() pmetric.Metrics {
	build := s.settings.BuildInfo
	s.mb.RecordChronyCollectorInfoDataPoint(pcommon.NewTimestampFromTime(s.now()), 1, build.Command, build.Version)
	rb := s.mb.NewResourceBuilder()
	if ep := s.reader.Endpoint(); ep != "" {
		rb.SetChronyEndpoint(ep)
	}
	return s.mb.Emit(metadata.WithResource(rb.Emit()))
}

var leapStatuses = [...]metadata.AttributeLeapStatus{
	chronyclient.LeapNormal:         metadata.AttributeLeapStatusNormal,
	chronyclient.LeapInsertSecond:   metadata.AttributeLeapStatusInsertSecond,
	chronyclient.LeapDeleteSecond:   metadata.AttributeLeapStatusDeleteSecond,
	chronyclient.LeapUnsynchronised: metadata.AttributeLeapStatusUnsynchronised,
}

func leapStatus(v uint16) metadata.AttributeLeapStatus {
	if int(v) < len(leapStatuses) {
		return leapStatuses[v]
	}
	// Not a value chrony sends; a clock that claims it is not synchronised.
	return metadata.AttributeLeapStatusUnsynchronised
}

var syncStates = [...]metadata.AttributeSyncState{
	clockbound.Synchronised:   metadata.AttributeSyncStateSynchronised,
	clockbound.Unsynchronised: metadata.AttributeSyncStateUnsynchronised,
	clockbound.FreeRunning:    metadata.AttributeSyncStateFreeRunning,
}

// formatSeconds prints a bound or offset the way a person reads it: 12.3µs.
func formatSeconds(v float64) string {
	if math.IsInf(v, 1) {
		return "none (unsynchronised)"
	}
	return time.Duration(v * float64(time.Second)).String()
}

func (s *chronyScraper) recordTracking(ts pcommon.Timestamp, t chronyclient.Tracking) clockbound.Bound {
	leap := leapStatus(t.LeapStatus)
	mb := s.mb
	mb.RecordNtpStratumDataPoint(ts, int64(t.Stratum))
	mb.RecordNtpFrequencyOffsetDataPoint(ts, t.FrequencyPPM, leap)
	mb.RecordNtpFrequencyResidualDataPoint(ts, t.ResidualFreqPPM)
	mb.RecordNtpSkewDataPoint(ts, t.SkewPPM)
	mb.RecordNtpTimeCorrectionDataPoint(ts, t.CurrentCorrection, leap)
	mb.RecordNtpTimeLastOffsetDataPoint(ts, t.LastOffset, leap)
	mb.RecordNtpTimeRmsOffsetDataPoint(ts, t.RMSOffset, leap)
	mb.RecordNtpTimeRootDelayDataPoint(ts, t.RootDelay, leap)
	mb.RecordNtpTimeRootDispersionDataPoint(ts, t.RootDispersion)
	mb.RecordNtpUpdateIntervalDataPoint(ts, t.LastUpdateInterval)
	mb.RecordNtpReferenceInfoDataPoint(ts, 1, fmt.Sprintf("%08X", t.RefID), t.ReferenceName)

	b := clockbound.Evaluate(t)
	if b.HasReference {
		mb.RecordNtpTimeReferenceAgeDataPoint(ts, b.ReferenceAge)
	}
	mb.RecordNtpTimeMaxErrorDataPoint(ts, b.MaxError)
	mb.RecordNtpTimeClockErrorDataPoint(ts, b.ClockError)
	mb.RecordChronyClockErrorMsDataPoint(ts, b.ClockError*1e3)
	for state, attr := range syncStates {
		mb.RecordNtpSyncStateDataPoint(ts, oneIf(clockbound.State(state) == b.State), attr)
	}
	for _, attr := range leapStatuses {
		mb.RecordNtpLeapStatusDataPoint(ts, oneIf(attr == leap), attr)
	}
	return b
}

var sourceStates = [...]metadata.AttributeSourceState{
	metadata.AttributeSourceStateSync,
	metadata.AttributeSourceStateUnreach,
	metadata.AttributeSourceStateFalseticker,
	metadata.AttributeSourceStateJittery,
	metadata.AttributeSourceStateCandidate,
	metadata.AttributeSourceStateOutlier,
}

var sourceModes = [...]metadata.AttributeSourceMode{
	chronyclient.ModeClient:   metadata.AttributeSourceModeClient,
	chronyclient.ModePeer:     metadata.AttributeSourceModePeer,
	chronyclient.ModeRefclock: metadata.AttributeSourceModeReferenceClock,
}

func (s *chronyScraper) recordSources(ts pcommon.Timestamp, sources []chronyclient.Source) {
	mb := s.mb
	for i := range sources {
		src := &sources[i]
		addr, name := src.Address, src.Name
		mb.RecordNtpSourceOffsetDataPoint(ts, src.Offset, addr, name)
		mb.RecordNtpSourceMeasuredOffsetDataPoint(ts, src.MeasuredOffset, addr, name)
		mb.RecordNtpSourceOffsetErrorDataPoint(ts, src.OffsetError, addr, name)
		mb.RecordNtpSourceStratumDataPoint(ts, int64(src.Stratum), addr, name)
		mb.RecordNtpSourcePollIntervalDataPoint(ts, math.Ldexp(1, int(src.Poll)), addr, name)
		mb.RecordNtpSourceReachabilityDataPoint(ts, int64(src.Reachability), addr, name)
		if src.HasSample {
			mb.RecordNtpSourceLastSampleAgeDataPoint(ts, float64(src.SinceSample), addr, name)
		}
		// Every state and mode is emitted, 1 for the current one, so a source
		// changing state changes a value, not the set of series.
		for state, attr := range sourceStates {
			mb.RecordNtpSourceStateDataPoint(ts, oneIf(int(src.State) == state), addr, name, attr)
		}
		for mode, attr := range sourceModes {
			mb.RecordNtpSourceModeDataPoint(ts, oneIf(int(src.Mode) == mode), addr, name, attr)
		}
		if st := src.Stats; st != nil {
			mb.RecordNtpSourceSamplesDataPoint(ts, int64(st.Samples), addr, name)
			mb.RecordNtpSourceRunsDataPoint(ts, int64(st.Runs), addr, name)
			mb.RecordNtpSourceSpanDataPoint(ts, float64(st.SpanSeconds), addr, name)
			mb.RecordNtpSourceStdDevDataPoint(ts, st.StdDev, addr, name)
			mb.RecordNtpSourceFrequencyResidualDataPoint(ts, st.ResidualFreqPPM, addr, name)
			mb.RecordNtpSourceSkewDataPoint(ts, st.SkewPPM, addr, name)
			mb.RecordNtpSourceEstimatedOffsetDataPoint(ts, st.Offset, addr, name)
			mb.RecordNtpSourceEstimatedOffsetErrorDataPoint(ts, st.OffsetError, addr, name)
		}
	}
}

// recordCrossCheck records the latest cross-check of every server; the
// check runs on its own schedule, so a slow or dead server never holds up a
// scrape. Values carry the time they were measured. Consistency needs
// chronyd's current bound, so without one (chronyd down) it is left out. An
// unfit reply (the checker has logged why) gives no values but up.
func (s *chronyScraper) recordCrossCheck(ts pcommon.Timestamp, bound *clockbound.Bound) {
	if s.crossCheck == nil {
		return
	}
	for _, r := range s.crossCheck.Results() {
		s.mb.RecordNtpCrossCheckUpDataPoint(ts, oneIf(r.Up), r.Server)
		if !r.Up {
			continue
		}
		s.mb.RecordNtpCrossCheckServerInfoDataPoint(pcommon.NewTimestampFromTime(r.M.At), 1, r.Server, int64(r.M.Stratum),
			fmt.Sprintf("%08X", r.M.ReferenceID), r.M.ReferenceName())
		if r.Unfit != nil {
			continue
		}
		at := pcommon.NewTimestampFromTime(r.M.At)
		s.mb.RecordNtpCrossCheckOffsetDataPoint(at, r.M.Offset, r.Server)
		s.mb.RecordNtpCrossCheckDelayDataPoint(at, r.M.Delay, r.Server)
		s.mb.RecordNtpCrossCheckErrorBoundDataPoint(at, r.M.ErrorBound(), r.Server)
		if bound != nil {
			s.mb.RecordNtpCrossCheckConsistentDataPoint(ts, oneIf(r.M.Consistent(bound.MaxError)), r.Server)
		}
	}
}

func (s *chronyScraper) recordServerStats(ts pcommon.Timestamp, st chronyclient.ServerStats) {
	mb := s.mb
	mb.RecordChronyServerNtpPacketsDataPoint(ts, clampInt64(st.NTPHits), metadata.AttributePacketOutcomeServed)
	mb.RecordChronyServerNtpPacketsDataPoint(ts, clampInt64(st.NTPDrops), metadata.AttributePacketOutcomeDropped)
	mb.RecordChronyServerCommandPacketsDataPoint(ts, clampInt64(st.CmdHits), metadata.AttributePacketOutcomeServed)
	mb.RecordChronyServerCommandPacketsDataPoint(ts, clampInt64(st.CmdDrops), metadata.AttributePacketOutcomeDropped)
	mb.RecordChronyServerLogDropsDataPoint(ts, clampInt64(st.LogDrops))
	if st.HasNKE {
		mb.RecordChronyServerNtsKeConnectionsDataPoint(ts, clampInt64(st.NKEHits), metadata.AttributePacketOutcomeServed)
		mb.RecordChronyServerNtsKeConnectionsDataPoint(ts, clampInt64(st.NKEDrops), metadata.AttributePacketOutcomeDropped)
	}
	if st.HasAuth {
		mb.RecordChronyServerNtpAuthenticatedPacketsDataPoint(ts, clampInt64(st.NTPAuthHits))
	}
	if st.HasInterleaved {
		mb.RecordChronyServerNtpInterleavedPacketsDataPoint(ts, clampInt64(st.NTPInterleavedHits))
	}
}

func oneIf(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func clampInt64(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}
