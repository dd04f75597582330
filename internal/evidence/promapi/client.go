// Package promapi reads the Prometheus HTTP query API (Prometheus, Thanos,
// Mimir, an Azure Monitor workspace's query endpoint). It only reads: every
// request is a query, a series lookup or the build information.
package promapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Client reads one query API.
type Client struct {
	base    *url.URL
	http    *http.Client
	headers http.Header
	// Read on every request, so a token rotated during a long run (a
	// projected service-account token, a workload-identity exchange) is
	// picked up.
	bearerTokenFile string
	tokenSource     func(context.Context) (string, error)
	maxBytes        int64
}

// Options configure a Client beyond its URL.
type Options struct {
	BearerTokenFile string
	// TokenSource, when set, gives the bearer token for each request.
	TokenSource func(context.Context) (string, error)
	Headers     http.Header
	Timeout     time.Duration
	// MaxResponseBytes bounds the bytes read of one answer; 0 means
	// DefaultMaxResponseBytes. The JSON decoder holds a whole answer in
	// memory before decoding it, so without a bound one answer can take
	// any amount of memory.
	MaxResponseBytes int64
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
	return &Client{base: u, http: &http.Client{Timeout: timeout}, headers: opts.Headers.Clone(), bearerTokenFile: opts.BearerTokenFile,
		tokenSource: opts.TokenSource, maxBytes: maxBytes}, nil
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

// UnmarshalJSON decodes [1700000000.123,"0.5"] without the allocations of a
// generic decode: a month of a fleet is tens of millions of points.
func (p *Point) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return fmt.Errorf("point %s: not [time, \"value\"]", s)
	}
	ts, vs, ok := strings.Cut(s[1:len(s)-1], ",")
	if !ok {
		return fmt.Errorf("point %s: not [time, \"value\"]", s)
	}
	t, err := strconv.ParseFloat(strings.TrimSpace(ts), 64)
	if err != nil {
		return fmt.Errorf("point %s: time: %w", s, err)
	}
	vs = strings.Trim(strings.TrimSpace(vs), `"`)
	v, err := parseValue(vs)
	if err != nil {
		return fmt.Errorf("point %s: value: %w", s, err)
	}
	p.T = int64(math.Round(t * 1000))
	p.V = v
	return nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// Series is one series of a range query's result.
type Series struct {
	Metric map[string]string `json:"metric"`
	Values []Point           `json:"values"`
}

// Sample is one series of an instant query's result.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  Point             `json:"value"`
}

// envelope is the API's answer, decoded straight from the response body:
// a range query's answer can be tens of megabytes.
type envelope struct {
	Status    string   `json:"status"`
	Data      any      `json:"data"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
}

type matrix struct {
	ResultType string   `json:"resultType"`
	Result     []Series `json:"result"`
}

type vector struct {
	ResultType string   `json:"resultType"`
	Result     []Sample `json:"result"`
}

// QueryRange evaluates query at start, start+step, ... up to end. Warnings
// are what the API said beside the data; a store that could not reach all
// of its parts (Thanos, Mimir, Azure Monitor) says so there, and the data is
// then partial.
func (c *Client) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) (series []Series, warnings []string, err error) {
	form := url.Values{
		"query": {query},
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	var m matrix
	warnings, err = c.call(ctx, "query_range", form, &m)
	if err != nil {
		return nil, nil, fmt.Errorf("range query %s from %s to %s: %w", query, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), err)
	}
	if m.ResultType != "matrix" {
		return nil, nil, fmt.Errorf("range query %s: the API answered a %q, not a matrix", query, m.ResultType)
	}
	return m.Result, warnings, nil
}

// Query evaluates query at one instant, with the API's warnings as
// QueryRange.
func (c *Client) Query(ctx context.Context, query string, at time.Time) (samples []Sample, warnings []string, err error) {
	var v vector
	warnings, err = c.call(ctx, "query", url.Values{"query": {query}, "time": {formatTime(at)}}, &v)
	if err != nil {
		return nil, nil, fmt.Errorf("query %s at %s: %w", query, at.UTC().Format(time.RFC3339), err)
	}
	if v.ResultType != "vector" {
		return nil, nil, fmt.Errorf("query %s: the API answered a %q, not a vector", query, v.ResultType)
	}
	return v.Result, warnings, nil
}

// Version is the server's Prometheus version from /api/v1/status/buildinfo,
// or "" when the API does not say (Azure Monitor, some proxies).
func (c *Client) Version(ctx context.Context) string {
	var info struct {
		Version string `json:"version"`
	}
	if _, err := c.call(ctx, "status/buildinfo", nil, &info); err != nil {
		return ""
	}
	return info.Version
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// ErrUnauthorized marks a refusal that better credentials would fix.
var ErrUnauthorized = errors.New("unauthorized")

func (c *Client) call(ctx context.Context, endpoint string, form url.Values, into any) (warnings []string, err error) {
	u := c.base.JoinPath("api/v1", endpoint)
	var req *http.Request
	if form == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return nil, err
	}
	for k, vs := range c.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.bearerTokenFile != "" {
		token, err := os.ReadFile(c.bearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading the bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
	}
	if c.tokenSource != nil {
		token, err := c.tokenSource(ctx)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the query API at %s (check --prometheus and the network path to it): %w", c.Redacted(), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%w: the query API at %s answered %s (check --bearer-token-file or --header, and that the identity may read the workspace): %s",
			ErrUnauthorized, c.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Whatever the body says: a proxy or a store in trouble can answer
		// 503 with a cached or partial success body, and that is not data.
		var env envelope
		detail := ""
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&env) == nil && env.Status == "error" {
			detail = fmt.Sprintf(": %s: %s", env.ErrorType, env.Error)
		}
		return nil, fmt.Errorf("the query API at %s answered %s%s", c.Redacted(), resp.Status, detail)
	}
	if resp.ContentLength > c.maxBytes {
		return nil, c.tooLarge(fmt.Sprintf("Content-Length %d; nothing was read", resp.ContentLength))
	}
	body := &boundedReader{r: resp.Body, left: c.maxBytes}
	env := envelope{Data: into}
	if err := json.NewDecoder(body).Decode(&env); err != nil {
		if body.exceeded {
			return nil, c.tooLarge("reading stopped there")
		}
		return nil, fmt.Errorf("the query API at %s answered something that is not the Prometheus API's JSON (is --prometheus the API's base URL?): %w", c.Redacted(), err)
	}
	if env.Status != "success" {
		if env.Error == "" {
			env.Error = resp.Status
		}
		return nil, fmt.Errorf("the query API at %s answered %s: %s: %s", c.Redacted(), resp.Status, env.ErrorType, env.Error)
	}
	return env.Warnings, nil
}

// ErrTooLarge marks an answer larger than MaxResponseBytes.
var ErrTooLarge = errors.New("answer too large")

func (c *Client) tooLarge(detail string) error {
	return fmt.Errorf("%w: the query API at %s answered more than --max-response-bytes %d (%s): each query asks for one chunk of the point budget, whose answer is far smaller; check that --prometheus is the query API, or raise --max-response-bytes",
		ErrTooLarge, c.Redacted(), c.maxBytes, detail)
}

// boundedReader reads at most left bytes and then fails, so that an answer
// too large is an error, not a truncated document that might still decode.
type boundedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.exceeded = true
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
