// Command baselineexporter is the floor `make bench` holds otelcol-chrony
// against: the least a Go program can do for the same job. On each
// Prometheus pull it makes the same tracking exchange with chronyd (UDP,
// facebook/time's client) and serves the same 22 series as the DaemonSet's
// collector with the Prometheus Go client. It is a benchmark baseline, not a
// product: no staleness, no retries, no pipeline.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/facebook/time/ntp/chrony"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	chronyd := flag.String("chronyd", "127.0.0.1:323", "chronyd's command port")
	listen := flag.String("listen", "127.0.0.1:9465", "where to serve /metrics")
	node := flag.String("node", "node", "k8s_node_name")
	cluster := flag.String("cluster", "cluster", "k8s_cluster_name")
	profile := flag.String("profile", "mifid_ii_hft", "compliance_profile")
	flag.Parse()
	conn, err := net.Dial("udp", *chronyd)
	if err != nil {
		log.Fatal(err)
	}
	c := &collector{conn: conn, client: &chrony.Client{Connection: conn},
		labels: prometheus.Labels{"k8s_node_name": *node, "k8s_cluster_name": *cluster, "compliance_profile": *profile}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	log.Fatal(http.ListenAndServe(*listen, nil))
}

type collector struct {
	conn   net.Conn
	client *chrony.Client
	labels prometheus.Labels
}

func (c *collector) desc(name string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, name, labels, c.labels)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

var leaps = []string{"normal", "insert_second", "delete_second", "unsynchronised"}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(name string, v float64, labels ...string) {
		var keys []string
		for i := 0; i < len(labels); i += 2 {
			keys = append(keys, labels[i])
		}
		var values []string
		for i := 1; i < len(labels); i += 2 {
			values = append(values, labels[i])
		}
		ch <- prometheus.MustNewConstMetric(c.desc(name, keys...), prometheus.GaugeValue, v, values...)
	}
	_ = c.conn.SetDeadline(time.Now().Add(2 * time.Second))
	resp, err := c.client.Communicate(chrony.NewTrackingPacket())
	t, ok := resp.(*chrony.ReplyTracking)
	if err != nil || !ok {
		gauge("chrony_up", 0)
		return
	}
	now := time.Now()
	leap := "unsynchronised"
	if int(t.LeapStatus) < len(leaps) {
		leap = leaps[t.LeapStatus]
	}
	maxError := math.Abs(t.CurrentCorrection) + t.RootDispersion + t.RootDelay/2
	age := math.Max(now.Sub(t.RefTime).Seconds(), 0)
	state := "synchronised"
	switch {
	case t.LeapStatus >= 3:
		state, maxError = "unsynchronised", math.Inf(1)
	case t.LastUpdateInterval > 0 && age > 8*t.LastUpdateInterval:
		state = "free_running"
	}
	name := ""
	if t.IPAddr != nil {
		name = t.IPAddr.String()
	}
	gauge("chrony_up", 1)
	gauge("ntp_stratum", float64(t.Stratum))
	gauge("ntp_frequency_offset", t.FreqPPM, "leap_status", leap)
	gauge("ntp_frequency_residual", t.ResidFreqPPM)
	gauge("ntp_skew", t.SkewPPM)
	gauge("ntp_time_correction_seconds", t.CurrentCorrection, "leap_status", leap)
	gauge("ntp_time_last_offset_seconds", t.LastOffset, "leap_status", leap)
	gauge("ntp_time_rms_offset_seconds", t.RMSOffset, "leap_status", leap)
	gauge("ntp_time_root_delay_seconds", t.RootDelay, "leap_status", leap)
	gauge("ntp_time_root_dispersion_seconds", t.RootDispersion)
	gauge("ntp_update_interval_seconds", t.LastUpdateInterval)
	gauge("ntp_reference_info", 1, "reference_id", fmt.Sprintf("%08X", t.RefID), "reference_name", name)
	gauge("ntp_time_reference_age_seconds", age)
	gauge("ntp_time_max_error_seconds", maxError)
	gauge("ntp_time_clock_error_seconds", math.Abs(t.LastOffset)+t.RootDispersion+t.RootDelay/2)
	for _, s := range []string{"synchronised", "unsynchronised", "free_running"} {
		gauge("ntp_sync_state", b2f(s == state), "sync_state", s)
	}
	for _, l := range leaps {
		gauge("ntp_leap_status", b2f(l == leap), "leap_status", l)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
