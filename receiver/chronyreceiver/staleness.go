package chronyreceiver // import "github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver"

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// staleTracker ends series that a scrape no longer has. When chronyd stops
// answering, its last bound must not stay on /metrics beside chrony.up 0
// until the exporter's metric_expiration: for a compliance tool a
// healthy-looking stale bound is a lie. The same holds for the old
// leap.status series after a leap status change and for a source that is
// gone. So for every series of the previous scrape that is missing from this
// one, the scrape carries one point flagged NoRecordedValue, which the
// Prometheus exporter takes as "delete the series" and Prometheus remote
// write sends as a staleness marker.
type staleTracker struct {
	known map[string]*series
	gen   uint64
	key   []byte
}

// series is what a stale marker needs to name the series again.
type series struct {
	gen      uint64
	resource pcommon.Map
	scope    pcommon.InstrumentationScope
	metric   pmetric.Metric // name, unit, description and type; no points
	attrs    pcommon.Map
}

func newStaleTracker() *staleTracker {
	return &staleTracker{known: map[string]*series{}}
}

// mark notes md's series and appends to md the stale markers, at ts, for the
// series of the previous call that md does not have.
func (st *staleTracker) mark(md pmetric.Metrics, ts pcommon.Timestamp) {
	st.gen++
	eachPoint(md, st.see)
	if gone := st.forgetGone(); len(gone) > 0 {
		appendStaleMarkers(md, gone, ts)
	}
}

// see notes that the series of dp is in this scrape, remembering what a
// stale marker would need to name it the first time it is seen.
func (st *staleTracker) see(rm pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, m pmetric.Metric, dp pmetric.NumberDataPoint) {
	st.key = appendAttrs(st.key[:0], rm.Resource().Attributes())
	st.key = append(st.key, sm.Scope().Name()...)
	st.key = append(st.key, 0)
	st.key = append(st.key, m.Name()...)
	st.key = append(appendAttrs(append(st.key, 0), dp.Attributes()), 0)
	// The lookup with string(st.key) does not allocate; only a new series
	// pays for its key.
	if s, ok := st.known[string(st.key)]; ok {
		s.gen = st.gen
		return
	}
	st.known[string(st.key)] = newSeries(st.gen, rm, sm, m, dp.Attributes())
}

func newSeries(gen uint64, rm pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, m pmetric.Metric, attrs pcommon.Map) *series {
	s := &series{gen: gen, resource: pcommon.NewMap(), scope: pcommon.NewInstrumentationScope(), metric: pmetric.NewMetric(), attrs: pcommon.NewMap()}
	rm.Resource().Attributes().CopyTo(s.resource)
	sm.Scope().CopyTo(s.scope)
	s.metric.SetName(m.Name())
	s.metric.SetUnit(m.Unit())
	s.metric.SetDescription(m.Description())
	if m.Type() == pmetric.MetricTypeSum {
		sum := s.metric.SetEmptySum()
		sum.SetIsMonotonic(m.Sum().IsMonotonic())
		sum.SetAggregationTemporality(m.Sum().AggregationTemporality())
	} else {
		s.metric.SetEmptyGauge()
	}
	attrs.CopyTo(s.attrs)
	return s
}

// forgetGone removes and returns the series the last mark did not see,
// sorted by key, so their markers come out grouped by resource, scope and
// metric.
func (st *staleTracker) forgetGone() []*series {
	var keys []string
	for key, s := range st.known {
		if s.gen != st.gen {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	gone := make([]*series, len(keys))
	for i, key := range keys {
		gone[i] = st.known[key]
		delete(st.known, key)
	}
	return gone
}

// appendStaleMarkers appends to md one point at ts flagged NoRecordedValue for
// each series in gone.
func appendStaleMarkers(md pmetric.Metrics, gone []*series, ts pcommon.Timestamp) {
	var out pmetric.ResourceMetrics
	metrics := map[string]pmetric.Metric{}
	for _, s := range gone {
		// All of one scrape's series share a resource and scope; a series from
		// an earlier endpoint gets a resource of its own.
		if out == (pmetric.ResourceMetrics{}) || !out.Resource().Attributes().Equal(s.resource) {
			out = md.ResourceMetrics().AppendEmpty()
			s.resource.CopyTo(out.Resource().Attributes())
			s.scope.CopyTo(out.ScopeMetrics().AppendEmpty().Scope())
			clear(metrics)
		}
		m, ok := metrics[s.metric.Name()]
		if !ok {
			m = out.ScopeMetrics().At(0).Metrics().AppendEmpty()
			s.metric.CopyTo(m)
			metrics[s.metric.Name()] = m
		}
		var dp pmetric.NumberDataPoint
		if m.Type() == pmetric.MetricTypeSum {
			dp = m.Sum().DataPoints().AppendEmpty()
		} else {
			dp = m.Gauge().DataPoints().AppendEmpty()
		}
		dp.SetTimestamp(ts)
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		s.attrs.CopyTo(dp.Attributes())
	}
}

func appendAttrs(b []byte, m pcommon.Map) []byte {
	for k, v := range m.All() {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v.AsString()...)
		b = append(b, 1)
	}
	return b
}

// eachPoint calls fn for every gauge and sum data point of md.
func eachPoint(md pmetric.Metrics, fn func(rm pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, m pmetric.Metric, dp pmetric.NumberDataPoint)) {
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		rm := rms.At(i)
		sms := rm.ScopeMetrics()
		for j := range sms.Len() {
			sm := sms.At(j)
			ms := sm.Metrics()
			for k := range ms.Len() {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				default:
					continue
				}
				for d := range dps.Len() {
					fn(rm, sm, m, dps.At(d))
				}
			}
		}
	}
}
