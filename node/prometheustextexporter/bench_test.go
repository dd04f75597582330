package prometheustextexporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/node/internal/httpserver"
)

// BenchmarkBatchAndPull is what a node's collector does at each interval:
// one batch folded in and rendered, then one pull over a kept-alive
// connection. "gzip" adds what serving the page compressed would cost: one
// compression per rendered page, with a reused writer. The exporter serves
// identity; this is the measurement behind that choice.
func BenchmarkBatchAndPull(b *testing.B) {
	for _, compress := range []bool{false, true} {
		name := "identity"
		if compress {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			e := newExporter(&Config{Endpoint: "127.0.0.1:0", Limits: httpserver.DefaultLimits(), MetricExpiration: time.Minute, ResourceLabels: []string{"k8s.node.name"}}, zap.NewNop())
			if err := e.Start(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = e.Shutdown(context.Background()) }()
			url := "http://" + e.server.Addr() + "/metrics"
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			var zbuf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
			md := batch("node-a", 1)
			b.ReportAllocs()
			for b.Loop() {
				if err := e.ConsumeMetrics(context.Background(), md); err != nil {
					b.Fatal(err)
				}
				if compress {
					e.mu.Lock()
					zbuf.Reset()
					zw.Reset(&zbuf)
					_, _ = zw.Write(e.page)
					_ = zw.Close()
					e.mu.Unlock()
				}
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
