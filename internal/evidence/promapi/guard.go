package promapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// guard is the transport under client_golang's API client. client_golang
// already fails every status other than 2xx, but it reads the whole body
// of every answer into memory unbounded, and its errors name neither the
// HTTP status nor refused credentials; so the guard decides those before
// the body reaches it.
type guard struct {
	next http.RoundTripper
	// scheme and host are the query API's: credentials go there only, not
	// to another host a redirect points at, nor over http when the API is
	// https.
	scheme, host, redacted string
	headers                http.Header
	bearerTokenFile        string
	tokenSource            func(context.Context) (string, error)
	maxBytes               int64
}

// stopped is an error the guard decided, told apart from the network's.
type stopped struct{ err error }

func (s *stopped) Error() string { return s.err.Error() }
func (s *stopped) Unwrap() error { return s.err }

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the request it is given.
	req = req.Clone(req.Context())
	if req.URL.Scheme == g.scheme && req.URL.Host == g.host {
		if err := g.authorize(req); err != nil {
			return nil, err
		}
	}
	resp, err := g.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		body := readSome(resp, 512)
		return nil, &stopped{fmt.Errorf("%w: the query API at %s answered %s (check --bearer-token-file or --header, and that the identity may read the workspace): %s",
			ErrUnauthorized, g.redacted, resp.Status, strings.TrimSpace(string(body)))}
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "":
		// net/http follows it, and the guard sees the answer at its end.
		return resp, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		// Whatever the body says: a proxy or a store in trouble can answer
		// 503 with a cached or partial success body, and that is not data.
		var env struct {
			Status    string `json:"status"`
			ErrorType string `json:"errorType"`
			Error     string `json:"error"`
		}
		detail := ""
		if json.Unmarshal(readSome(resp, 64<<10), &env) == nil && env.Status == "error" {
			detail = fmt.Sprintf(": %s: %s", env.ErrorType, env.Error)
		}
		return nil, &stopped{fmt.Errorf("the query API at %s answered %s%s", g.redacted, resp.Status, detail)}
	case resp.ContentLength > g.maxBytes:
		resp.Body.Close()
		return nil, &stopped{g.tooLarge(fmt.Sprintf("Content-Length %d; nothing was read", resp.ContentLength))}
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: g.maxBytes, tooLarge: g.tooLarge}
	return resp, nil
}

func (g *guard) authorize(req *http.Request) error {
	for k, vs := range g.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if g.bearerTokenFile != "" {
		token, err := os.ReadFile(g.bearerTokenFile)
		if err != nil {
			return &stopped{fmt.Errorf("reading the bearer token: %w", err)}
		}
		req.Header.Set("Authorization", "Bearer "+string(bytes.TrimSpace(token)))
	}
	if g.tokenSource != nil {
		token, err := g.tokenSource(req.Context())
		if err != nil {
			return &stopped{err}
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return nil
}

func (g *guard) tooLarge(detail string) error {
	return fmt.Errorf("%w: the query API at %s answered more than --max-response-bytes %d (%s): each query asks for one chunk of the point budget, whose answer is far smaller; check that --prometheus is the query API, or raise --max-response-bytes",
		ErrTooLarge, g.redacted, g.maxBytes, detail)
}

// readSome reads at most n bytes of an answer that is not data, for its
// error message, and closes it.
func readSome(resp *http.Response, n int64) []byte {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, n))
	return body
}

// boundedBody reads at most left bytes and then fails, so that an answer
// too large is an error, not a truncated document that might still decode.
type boundedBody struct {
	io.ReadCloser
	left     int64
	tooLarge func(detail string) error
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, &stopped{b.tooLarge("reading stopped there")}
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
