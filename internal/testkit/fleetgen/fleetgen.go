// Package fleetgen writes the series a fleet of otelcol-chrony DaemonSet
// pods and kube-state-metrics leave in Prometheus, as OpenMetrics text for
// `promtool tsdb create-blocks-from openmetrics`: the evidence tests and the
// evidence benchmark backfill a real Prometheus with it.
package fleetgen

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Window is a half-open time range [Start, End).
type Window struct{ Start, End time.Time }

func (w Window) has(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

func inAny(ws []Window, t time.Time) bool {
	for _, w := range ws {
		if w.has(t) {
			return true
		}
	}
	return false
}

// Node is one node's story over the period.
type Node struct {
	Name    string
	Cluster string
	Profile string
	// Inventory is when kube-state-metrics listed the node.
	Inventory []Window
	// Reporting is when its collector was running and delivering.
	Reporting []Window
	// Unreachable is when the collector ran but could not read chronyd:
	// chrony_up 0 and no bound, as the receiver emits it.
	Unreachable []Window
	// Unsynchronised is when chronyd had no reference: the bound is +Inf.
	Unsynchronised []Window
	// Breach is when the bound was BreachBound.
	Breach      []Window
	BreachBound float64
	// Bound gives the bound of the i-th scrape otherwise.
	Bound func(i int) float64
	// Reference is the reference's name (its ID is derived from it).
	Reference string
	// OSImage is kube-state-metrics' os_image; Ubuntu when empty.
	OSImage string
	// CrossChecks are the NTP servers the node's collector checks its clock
	// against; none when empty.
	CrossChecks []CrossCheck
	// Collector is the collector version chrony_collector_info names; no
	// such series when empty.
	Collector string
}

// CrossCheck is one cross-check server as a node's collector sees it. At
// every scrape the receiver reports the latest check; here a check is made
// at every scrape, so a window below is a window of scrapes.
type CrossCheck struct {
	Address                string
	Stratum                int
	ReferenceID, Reference string
	// Down is when the server did not answer: ntp_cross_check_up 0 and no
	// measurement.
	Down []Window
	// Offset and Bound are the measurement otherwise, consistent with
	// chronyd's bound; during Disagree the offset is DisagreeOffset, the
	// bound DisagreeBound and ntp_cross_check_consistent 0.
	Offset, Bound                 float64
	Disagree                      []Window
	DisagreeOffset, DisagreeBound float64
}

// Check is what one cross-check sample says; ok is false when the server
// did not answer.
type Check struct {
	Offset, Bound float64
	Consistent    bool
}

// At returns the check the collector reports at scrape time t.
func (c CrossCheck) At(t time.Time) (Check, bool) {
	switch {
	case inAny(c.Down, t):
		return Check{}, false
	case inAny(c.Disagree, t):
		return Check{Offset: c.DisagreeOffset, Bound: c.DisagreeBound}, true
	}
	return Check{Offset: c.Offset, Bound: c.Bound, Consistent: true}, true
}

// Fleet is the period's scrapes: one every Interval, Offset after each
// interval's start (Prometheus scrapes at a fixed offset in its interval).
type Fleet struct {
	From, To        time.Time
	Interval        time.Duration
	Offset          time.Duration
	InventoryOffset time.Duration
	Nodes           []Node
}

// Scrapes returns the times of the collector's scrapes in the period.
func (f Fleet) Scrapes() []time.Time {
	var out []time.Time
	for t := f.From.Add(f.Offset); t.Before(f.To); t = t.Add(f.Interval) {
		out = append(out, t)
	}
	return out
}

// Sample is what one node's collector reported at one scrape; ok is false
// when it reported nothing.
type Sample struct {
	Up    float64
	Bound float64 // NaN when no bound was sent
}

// At returns what n reported at the i-th scrape, time t.
func (n Node) At(i int, t time.Time) (Sample, bool) {
	if !inAny(n.Reporting, t) {
		return Sample{}, false
	}
	switch {
	case inAny(n.Unreachable, t):
		return Sample{Up: 0, Bound: math.NaN()}, true
	case inAny(n.Unsynchronised, t):
		return Sample{Up: 1, Bound: math.Inf(1)}, true
	case inAny(n.Breach, t):
		return Sample{Up: 1, Bound: n.BreachBound}, true
	}
	return Sample{Up: 1, Bound: n.Bound(i)}, true
}

// WriteOpenMetrics writes the fleet's series, family by family.
func (f Fleet) WriteOpenMetrics(out io.Writer) error {
	w := bufio.NewWriterSize(out, 1<<20)
	scrapes := f.Scrapes()
	ts := func(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
	labels := func(n Node, i int) string {
		return fmt.Sprintf(`compliance_profile="%s",instance="10.0.%d.%d:9464",job="otelcol-chrony",k8s_cluster_name="%s",k8s_node_name="%s"`,
			n.Profile, i/250, i%250+1, n.Cluster, n.Name)
	}
	family := func(name string, each func(i int, n Node)) {
		fmt.Fprintf(w, "# TYPE %s gauge\n", name)
		for i, n := range f.Nodes {
			each(i, n)
		}
	}
	family("chrony_up", func(i int, n Node) {
		l := labels(n, i)
		for k, t := range scrapes {
			if s, ok := n.At(k, t); ok {
				fmt.Fprintf(w, "chrony_up{%s} %g %s\n", l, s.Up, ts(t))
			}
		}
	})
	family("ntp_time_max_error_seconds", func(i int, n Node) {
		l := labels(n, i)
		for k, t := range scrapes {
			if s, ok := n.At(k, t); ok && !math.IsNaN(s.Bound) {
				v := strconv.FormatFloat(s.Bound, 'g', -1, 64)
				if math.IsInf(s.Bound, 1) {
					v = "+Inf"
				}
				fmt.Fprintf(w, "ntp_time_max_error_seconds{%s} %s %s\n", l, v, ts(t))
			}
		}
	})
	family("ntp_reference_info", func(i int, n Node) {
		l := fmt.Sprintf(`%s,reference_id="%s",reference_name="%s"`, labels(n, i), ReferenceID(n.Reference), n.Reference)
		for k, t := range scrapes {
			if s, ok := n.At(k, t); ok && s.Up == 1 && !math.IsInf(s.Bound, 1) {
				fmt.Fprintf(w, "ntp_reference_info{%s} 1 %s\n", l, ts(t))
			}
		}
	})
	// The receiver checks a server only while it runs; consistency needs
	// chronyd's bound too.
	crossChecks := func(name string, value func(c CrossCheck, chk Check, answered bool, s Sample) (string, bool)) {
		family(name, func(i int, n Node) {
			for _, c := range n.CrossChecks {
				l := fmt.Sprintf(`%s,server_address="%s"`, labels(n, i), c.Address)
				if name == "ntp_cross_check_server_info" {
					l += fmt.Sprintf(`,reference_id="%s",reference_name="%s",server_stratum="%d"`, c.ReferenceID, c.Reference, c.Stratum)
				}
				for k, t := range scrapes {
					s, ok := n.At(k, t)
					if !ok {
						continue
					}
					chk, answered := c.At(t)
					if v, ok := value(c, chk, answered, s); ok {
						fmt.Fprintf(w, "%s{%s} %s %s\n", name, l, v, ts(t))
					}
				}
			}
		})
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	crossChecks("ntp_cross_check_up", func(_ CrossCheck, _ Check, answered bool, _ Sample) (string, bool) {
		if answered {
			return "1", true
		}
		return "0", true
	})
	crossChecks("ntp_cross_check_server_info", func(_ CrossCheck, _ Check, answered bool, _ Sample) (string, bool) { return "1", answered })
	crossChecks("ntp_cross_check_offset_seconds", func(_ CrossCheck, chk Check, answered bool, _ Sample) (string, bool) { return g(chk.Offset), answered })
	crossChecks("ntp_cross_check_error_bound_seconds", func(_ CrossCheck, chk Check, answered bool, _ Sample) (string, bool) { return g(chk.Bound), answered })
	crossChecks("ntp_cross_check_consistent", func(_ CrossCheck, chk Check, answered bool, s Sample) (string, bool) {
		if chk.Consistent {
			return "1", answered && s.Up == 1
		}
		return "0", answered && s.Up == 1
	})
	family("chrony_collector_info", func(i int, n Node) {
		if n.Collector == "" {
			return
		}
		l := fmt.Sprintf(`%s,collector_command="otelcol-chrony",collector_version="%s"`, labels(n, i), n.Collector)
		for k, t := range scrapes {
			if _, ok := n.At(k, t); ok {
				fmt.Fprintf(w, "chrony_collector_info{%s} 1 %s\n", l, ts(t))
			}
		}
	})
	family("kube_node_info", func(i int, n Node) {
		osImage := n.OSImage
		if osImage == "" {
			osImage = "Ubuntu 22.04.5 LTS"
		}
		l := fmt.Sprintf(`cluster="%s",container_runtime_version="containerd://1.7.27-1",job="kube-state-metrics",kernel_version="5.15.0-1089-azure",kubelet_version="v1.34.4",node="%s",os_image="%s"`, n.Cluster, n.Name, osImage)
		for t := f.From.Add(f.InventoryOffset); t.Before(f.To); t = t.Add(f.Interval) {
			if inAny(n.Inventory, t) {
				fmt.Fprintf(w, "kube_node_info{%s} 1 %s\n", l, ts(t))
			}
		}
	})
	fmt.Fprintln(w, "# EOF")
	return w.Flush()
}

// ReferenceID is the eight hexadecimal digits chronyc would print for a
// reference of that name; any stable function of the name will do here.
func ReferenceID(name string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return fmt.Sprintf("%08X", h)
}
