package prometheustextexporter

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The namers are the contrib Prometheus exporter's defaults (unit and type
// suffixes, underscore escaping, multiple underscores kept), so a series
// keeps its name when a configuration moves between the two exporters.
var (
	metricNamer = otlptranslator.MetricNamer{WithMetricSuffixes: true}
	labelNamer  = otlptranslator.LabelNamer{PreserveMultipleUnderscores: true}
)

type labelPair struct{ name, value string }

type series struct {
	labels  []labelPair // sorted by name
	value   float64
	updated time.Time
}

type family struct {
	help, typ string
	series    map[string]*series // by the rendered label set
}

// store holds the last value of every series, by family name.
type store struct {
	resourceLabels []string
	families       map[string]*family
	// names caches the translation of OTLP names, units and label keys,
	// which is most of the work of a batch and never changes.
	names  map[[3]string]string
	labels map[string]string
	// pointLabels and pointKey are reused for every data point: in the
	// steady state every series exists already, and looking it up then
	// allocates nothing.
	pointLabels []labelPair
	pointKey    bytes.Buffer
}

func newStore(resourceLabels []string) *store {
	return &store{resourceLabels: resourceLabels, families: map[string]*family{},
		names: map[[3]string]string{}, labels: map[string]string{}}
}

type skipped struct{ name, reason string }

func (s *store) add(md pmetric.Metrics, now time.Time) []skipped {
	var skips []skipped
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		var resLabels []labelPair
		for _, k := range s.resourceLabels {
			if v, ok := rm.Resource().Attributes().Get(k); ok {
				resLabels = append(resLabels, labelPair{s.labelName(k), v.AsString()})
			}
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if reason := s.addMetric(ms.At(k), resLabels, now); reason != "" {
					skips = append(skips, skipped{ms.At(k).Name(), reason})
				}
			}
		}
	}
	return skips
}

func (s *store) addMetric(m pmetric.Metric, resLabels []labelPair, now time.Time) string {
	var points pmetric.NumberDataPointSlice
	var typ string
	var tm otlptranslator.MetricType
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		points, typ, tm = m.Gauge().DataPoints(), "gauge", otlptranslator.MetricTypeGauge
	case pmetric.MetricTypeSum:
		if m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return "delta sums are not accumulated by this exporter"
		}
		points, typ, tm = m.Sum().DataPoints(), "gauge", otlptranslator.MetricTypeNonMonotonicCounter
		if m.Sum().IsMonotonic() {
			typ, tm = "counter", otlptranslator.MetricTypeMonotonicCounter
		}
	default:
		return m.Type().String() + " metrics are not supported by this exporter"
	}
	name, err := s.metricName(m.Name(), m.Unit(), tm)
	if err != nil {
		return err.Error()
	}
	f := s.families[name]
	if f == nil {
		f = &family{help: m.Description(), typ: typ, series: map[string]*series{}}
		s.families[name] = f
	} else if f.typ != typ {
		return "its Prometheus name " + name + " is already a " + f.typ
	}
	for i := 0; i < points.Len(); i++ {
		p := points.At(i)
		labels := s.pointLabels[:0]
		for k, v := range p.Attributes().All() {
			labels = append(labels, labelPair{s.labelName(k), v.AsString()})
		}
		// A data point's own attribute wins over a resource label of the
		// same name.
		for _, rl := range resLabels {
			if !slices.ContainsFunc(labels, func(l labelPair) bool { return l.name == rl.name }) {
				labels = append(labels, rl)
			}
		}
		slices.SortFunc(labels, func(a, b labelPair) int { return strings.Compare(a.name, b.name) })
		s.pointLabels = labels
		s.pointKey.Reset()
		writeLabels(&s.pointKey, labels)
		if p.Flags().NoRecordedValue() {
			delete(f.series, s.pointKey.String())
			continue
		}
		v := p.DoubleValue()
		if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
			v = float64(p.IntValue())
		}
		if sr := f.series[string(s.pointKey.Bytes())]; sr != nil {
			sr.value, sr.updated = v, now
		} else {
			f.series[s.pointKey.String()] = &series{labels: slices.Clone(labels), value: v, updated: now}
		}
	}
	return ""
}

func (s *store) metricName(name, unit string, typ otlptranslator.MetricType) (string, error) {
	key := [3]string{name, unit, strconv.Itoa(int(typ))}
	if n, ok := s.names[key]; ok {
		return n, nil
	}
	n, err := metricNamer.Build(otlptranslator.Metric{Name: name, Unit: unit, Type: typ})
	if err != nil {
		return "", err
	}
	s.names[key] = n
	return n, nil
}

func (s *store) labelName(key string) string {
	if n, ok := s.labels[key]; ok {
		return n
	}
	n, err := labelNamer.Build(key)
	if err != nil {
		// Only an empty key fails; it cannot name a label.
		n = "key_empty"
	}
	s.labels[key] = n
	return n
}

// expire drops the series last updated before cutoff and returns the
// oldest update time among those left (zero when none are left).
func (s *store) expire(cutoff time.Time) time.Time {
	var oldest time.Time
	for name, f := range s.families {
		for key, sr := range f.series {
			if sr.updated.Before(cutoff) {
				delete(f.series, key)
				continue
			}
			if oldest.IsZero() || sr.updated.Before(oldest) {
				oldest = sr.updated
			}
		}
		if len(f.series) == 0 {
			delete(s.families, name)
		}
	}
	return oldest
}

// render writes the text exposition format 0.0.4 as the Prometheus Go
// client writes it: families by name, series by their label values, HELP
// before TYPE, no timestamps.
func (s *store) render(buf *bytes.Buffer) {
	names := make([]string, 0, len(s.families))
	for name := range s.families {
		names = append(names, name)
	}
	slices.Sort(names)
	var ordered []*series
	for _, name := range names {
		f := s.families[name]
		buf.WriteString("# HELP ")
		buf.WriteString(name)
		buf.WriteByte(' ')
		helpEscaper.WriteString(buf, f.help)
		buf.WriteString("\n# TYPE ")
		buf.WriteString(name)
		buf.WriteByte(' ')
		buf.WriteString(f.typ)
		buf.WriteByte('\n')
		ordered = ordered[:0]
		for _, sr := range f.series {
			ordered = append(ordered, sr)
		}
		slices.SortFunc(ordered, compareSeries)
		for _, sr := range ordered {
			buf.WriteString(name)
			writeLabels(buf, sr.labels)
			buf.WriteByte(' ')
			buf.Write(appendFloat(buf.AvailableBuffer(), sr.value))
			buf.WriteByte('\n')
		}
	}
}

// compareSeries orders as the Prometheus Go client does: label by label,
// by name, then by value.
func compareSeries(a, b *series) int {
	for i := range min(len(a.labels), len(b.labels)) {
		if c := strings.Compare(a.labels[i].name, b.labels[i].name); c != 0 {
			return c
		}
		if c := strings.Compare(a.labels[i].value, b.labels[i].value); c != 0 {
			return c
		}
	}
	return len(a.labels) - len(b.labels)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func writeLabels(buf *bytes.Buffer, labels []labelPair) {
	if len(labels) == 0 {
		return
	}
	buf.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(l.name)
		buf.WriteString(`="`)
		valueEscaper.WriteString(buf, l.value)
		buf.WriteByte('"')
	}
	buf.WriteByte('}')
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
