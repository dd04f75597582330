// Package promapi reads the Prometheus HTTP query API (Prometheus, Thanos,
// Mimir, an Azure Monitor workspace's query endpoint). It only reads: every
// request is a query or the build information.
//
// The API itself is spoken by client_golang's api/prometheus/v1. What the
// evidence needs beyond it lives in the transport given to that client
// (guard.go): credentials on every request, every status other than 2xx an
// error whatever the body says, refused credentials told apart, and a bound
// on the bytes read of one answer (client_golang reads a whole answer into
// memory, with no bound of its own).
//
// client_golang replaced a hand-written client at a measured cost, taken
// for a client that follows the API as Prometheus changes it. On 2 CPUs, a
// 250,000-point answer (the default chunk, 9.6 MB) decodes in 350 to 380 ms
// instead of 200 ms (it scans the answer with encoding/json, copies the
// result, then decodes it with json-iterator); two 30 MB answers read at
// once peak at 304 to 361 MiB RSS instead of 208 to 255 MiB, within the
// CronJob's 512 MiB; the binary grows by 4.1 MB.
package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Client reads one query API.
type Client struct {
	base    *url.URL
	api     v1.API
	timeout time.Duration
}

// Options configure a Client beyond its URL.
type Options struct {
	// BearerTokenFile is read on every request, so a token rotated during
	// a long run (a projected service-account token) is picked up.
	BearerTokenFile string
	// TokenSource, when set, gives the bearer token for each request.
	TokenSource func(context.Context) (string, error)
	Headers     http.Header
	Timeout     time.Duration
	// MaxResponseBytes bounds the bytes read of one answer; 0 means
	// DefaultMaxResponseBytes. The client holds a whole answer in memory
	// before decoding it, so without a bound one answer can take any
	// amount of memory.
	MaxResponseBytes int64
	// Transport carries the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// BytesPerPoint is a generous size of one point of a range query's answer:
// [1790000000.123,"1.2345678901234567e-05"] is 42 bytes, and a series'
// labels add little per point.
const BytesPerPoint = 128

// DefaultMaxResponseBytes bounds an answer when Options say nothing: a
// quarter of a million points, the evidence tool's default point budget.
const DefaultMaxResponseBytes = 250_000 * BytesPerPoint

// New returns a client for the API under rawURL (the part before /api/v1).
func New(rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--prometheus %q is not an http(s) URL such as http://prometheus:9090 or https://<workspace>.<region>.prometheus.monitor.azure.com", rawURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	maxBytes := opts.MaxResponseBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	if maxBytes < 0 {
		return nil, fmt.Errorf("--max-response-bytes %d: must be positive", maxBytes)
	}
	next := opts.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := &Client{base: u, timeout: timeout}
	g := &guard{
		next: next, scheme: u.Scheme, host: u.Host, redacted: c.Redacted(), headers: opts.Headers.Clone(),
		bearerTokenFile: opts.BearerTokenFile, tokenSource: opts.TokenSource, maxBytes: maxBytes,
	}
	apiClient, err := api.NewClient(api.Config{Address: u.String(), Client: &http.Client{Transport: g, Timeout: timeout}})
	if err != nil {
		return nil, fmt.Errorf("the query API client for %s: %w", c.Redacted(), err)
	}
	c.api = v1.NewAPI(apiClient)
	return c, nil
}

// Redacted is the API's URL without user information or query parameters,
// fit for a report.
func (c *Client) Redacted() string {
	u := *c.base
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// Point is one value of a range query's result, at a millisecond timestamp.
type Point struct {
	T int64
	V float64
}

// Series is one series of a range query's result.
type Series struct {
	Metric map[string]string
	Values []Point
}

// Sample is one series of an instant query's result.
type Sample struct {
	Metric map[string]string
	Value  Point
}

// QueryRange evaluates query at start, start+step, ... up to end. Warnings
// are what the API said beside the data; a store that could not reach all
// of its parts (Thanos, Mimir, Azure Monitor) says so there, and the data is
// then partial.
func (c *Client) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) (series []Series, warnings []string, err error) {
	value, warnings, _, err := c.api.QueryRange(ctx, query, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, nil, fmt.Errorf("range query %s from %s to %s: %w", query, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), c.explain(err))
	}
	matrix, ok := value.(model.Matrix)
	if !ok {
		return nil, nil, fmt.Errorf("range query %s: the API answered %s, not a matrix", query, describe(value))
	}
	series = make([]Series, len(matrix))
	for i, stream := range matrix {
		values := make([]Point, len(stream.Values))
		for k, p := range stream.Values {
			values[k] = Point{T: int64(p.Timestamp), V: float64(p.Value)}
		}
		series[i] = Series{Metric: labels(stream.Metric), Values: values}
	}
	return series, warnings, nil
}

// Query evaluates query at one instant, with the API's warnings as
// QueryRange.
func (c *Client) Query(ctx context.Context, query string, at time.Time) (samples []Sample, warnings []string, err error) {
	value, warnings, _, err := c.api.Query(ctx, query, at)
	if err != nil {
		return nil, nil, fmt.Errorf("query %s at %s: %w", query, at.UTC().Format(time.RFC3339), c.explain(err))
	}
	vector, ok := value.(model.Vector)
	if !ok {
		return nil, nil, fmt.Errorf("query %s: the API answered %s, not a vector", query, describe(value))
	}
	samples = make([]Sample, len(vector))
	for i, s := range vector {
		samples[i] = Sample{Metric: labels(s.Metric), Value: Point{T: int64(s.Timestamp), V: float64(s.Value)}}
	}
	return samples, warnings, nil
}

// Version is the server's Prometheus version from /api/v1/status/buildinfo,
// or "" when the API does not say (Azure Monitor, some proxies).
func (c *Client) Version(ctx context.Context) string {
	info, err := c.api.Buildinfo(ctx)
	if err != nil {
		return ""
	}
	return info.Version
}

func labels(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

func describe(v model.Value) string {
	if v == nil {
		return "no result"
	}
	return fmt.Sprintf("a %q", v.Type().String())
}

// ErrUnauthorized marks a refusal that better credentials would fix.
var ErrUnauthorized = errors.New("unauthorized")

// ErrTooLarge marks an answer larger than MaxResponseBytes.
var ErrTooLarge = errors.New("answer too large")

// explain turns what the API client returned into an error that says what
// to check.
func (c *Client) explain(err error) error {
	var stop *stopped
	if errors.As(err, &stop) {
		// The guard's own verdict, without the request line net/http puts
		// around an error of a transport.
		return stop.err
	}
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		if apiErr.Type == v1.ErrBadResponse {
			return fmt.Errorf("the query API at %s answered something that is not the Prometheus API's JSON (is --prometheus the API's base URL?): %s", c.Redacted(), apiErr.Msg)
		}
		return fmt.Errorf("the query API at %s answered an error: %s: %s", c.Redacted(), apiErr.Type, apiErr.Msg)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// net/http's Client.Timeout, not a dial timeout of the network, which
	// is no DeadlineExceeded.
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the query API at %s did not answer within --request-timeout %s: %w", c.Redacted(), c.timeout, err)
	}
	return fmt.Errorf("cannot reach the query API at %s (check --prometheus and the network path to it): %w", c.Redacted(), err)
}
