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
}

// Options configure a Client beyond its URL.
type Options struct {
	BearerTokenFile string
	// TokenSource, when set, gives the bearer token for each request.
	TokenSource func(context.Context) (string, error)
	Headers     http.Header
	Timeout     time.Duration
}

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
	return &Client{base: u, http: &http.Client{Timeout: timeout}, headers: opts.Headers.Clone(), bearerTokenFile: opts.BearerTokenFile, tokenSource: opts.TokenSource}, nil
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

// QueryRange evaluates query at start, start+step, ... up to end.
func (c *Client) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	form := url.Values{
		"query": {query},
		"start": {formatTime(start)},
		"end":   {formatTime(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	var m matrix
	if err := c.call(ctx, "query_range", form, &m); err != nil {
		return nil, fmt.Errorf("range query %s from %s to %s: %w", query, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), err)
	}
	if m.ResultType != "matrix" {
		return nil, fmt.Errorf("range query %s: the API answered a %q, not a matrix", query, m.ResultType)
	}
	return m.Result, nil
}

// Query evaluates query at one instant.
func (c *Client) Query(ctx context.Context, query string, at time.Time) ([]Sample, error) {
	var v vector
	if err := c.call(ctx, "query", url.Values{"query": {query}, "time": {formatTime(at)}}, &v); err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", query, at.UTC().Format(time.RFC3339), err)
	}
	if v.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: the API answered a %q, not a vector", query, v.ResultType)
	}
	return v.Result, nil
}

// Version is the server's Prometheus version from /api/v1/status/buildinfo,
// or "" when the API does not say (Azure Monitor, some proxies).
func (c *Client) Version(ctx context.Context) string {
	var info struct {
		Version string `json:"version"`
	}
	if err := c.call(ctx, "status/buildinfo", nil, &info); err != nil {
		return ""
	}
	return info.Version
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// ErrUnauthorized marks a refusal that better credentials would fix.
var ErrUnauthorized = errors.New("unauthorized")

func (c *Client) call(ctx context.Context, endpoint string, form url.Values, into any) error {
	u := c.base.JoinPath("api/v1", endpoint)
	var req *http.Request
	var err error
	if form == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return err
	}
	for k, vs := range c.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.bearerTokenFile != "" {
		token, err := os.ReadFile(c.bearerTokenFile)
		if err != nil {
			return fmt.Errorf("reading the bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
	}
	if c.tokenSource != nil {
		token, err := c.tokenSource(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the query API at %s (check --prometheus and the network path to it): %w", c.Redacted(), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%w: the query API at %s answered %s (check --bearer-token-file or --header, and that the identity may read the workspace): %s",
			ErrUnauthorized, c.Redacted(), resp.Status, strings.TrimSpace(string(body)))
	}
	env := envelope{Data: into}
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&env); err != nil {
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the query API at %s answered %s", c.Redacted(), resp.Status)
		}
		return fmt.Errorf("the query API at %s answered something that is not the Prometheus API's JSON (is --prometheus the API's base URL?): %w", c.Redacted(), err)
	}
	if env.Status != "success" {
		if env.Error == "" {
			env.Error = resp.Status
		}
		return fmt.Errorf("the query API at %s answered %s: %s: %s", c.Redacted(), resp.Status, env.ErrorType, env.Error)
	}
	return nil
}
