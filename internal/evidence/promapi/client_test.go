package promapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// answer serves body with status for every request, with a Content-Length
// or streamed without one, to a client that reads at most maxBytes of it.
func answer(t *testing.T, status int, body string, contentLength bool, maxBytes int) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(status)
		for i := 0; i < len(body); i += 100 {
			w.Write([]byte(body[i:min(i+100, len(body))]))
			w.(http.Flusher).Flush() // no Content-Length unless set
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, Options{MaxResponseBytes: int64(maxBytes)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`

// A status other than 2xx is an error, whatever the body.
func TestNon2xxIsNeverData(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{200, emptyVector, ""},
		{503, emptyVector, "answered 503 Service Unavailable"},
		{500, emptyVector, "answered 500 Internal Server Error"},
		{302, emptyVector, "answered 302 Found"},
		{422, `{"status":"error","errorType":"execution","error":"query timed out"}`, "answered 422 Unprocessable Entity: execution: query timed out"},
	} {
		_, _, err := answer(t, tc.status, tc.body, true, len(tc.body)).Query(context.Background(), "up", time.Unix(0, 0))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d: %v, want %q", tc.status, err, tc.want)
		}
	}
}

// An answer of exactly MaxResponseBytes is read; one byte more is an error,
// announced by Content-Length or not.
func TestMaxResponseBytes(t *testing.T) {
	for _, contentLength := range []bool{true, false} {
		c := answer(t, 200, emptyVector, contentLength, len(emptyVector))
		if _, _, err := c.Query(context.Background(), "up", time.Unix(0, 0)); err != nil {
			t.Errorf("Content-Length %v: an answer of exactly the bound: %v", contentLength, err)
		}
		c = answer(t, 200, emptyVector, contentLength, len(emptyVector)-1)
		_, _, err := c.Query(context.Background(), "up", time.Unix(0, 0))
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("answered more than --max-response-bytes %d", len(emptyVector)-1)) {
			t.Errorf("Content-Length %v: an answer one byte above the bound: %v", contentLength, err)
		}
	}
	if _, err := New("http://127.0.0.1:9090", Options{MaxResponseBytes: -1}); err == nil {
		t.Error("a negative bound accepted")
	}
}

// The store's warnings come back beside the data.
func TestWarnings(t *testing.T) {
	body := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"k8s_node_name":"n"},"values":[[1790000030,"1e-05"]]}]},"warnings":["partial response: store a unavailable","PromQL warning: x"]}`
	series, warnings, err := answer(t, 200, body, true, len(body)).QueryRange(context.Background(), "q", time.Unix(1790000000, 0), time.Unix(1790000030, 0), 30*time.Second)
	if err != nil || len(series) != 1 || len(series[0].Values) != 1 || series[0].Values[0] != (Point{T: 1790000030000, V: 1e-5}) {
		t.Fatalf("series %+v, %v", series, err)
	}
	if strings.Join(warnings, "|") != "partial response: store a unavailable|PromQL warning: x" {
		t.Errorf("warnings %q", warnings)
	}
}

// Credentials go to the query API's host, also after a redirect there, and
// never to another host a redirect points at.
func TestCredentialsStayWithTheAPIHost(t *testing.T) {
	var elsewhere []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere = append(elsewhere, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Scope-OrgID"))
		w.Write([]byte(emptyVector))
	}))
	defer other.Close()
	var here []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		here = append(here, r.URL.Path+" "+r.Header.Get("Authorization")+"|"+r.Header.Get("X-Scope-OrgID"))
		switch r.URL.Path {
		case "/api/v1/query":
			http.Redirect(w, r, "/moved/api/v1/query", http.StatusTemporaryRedirect)
		case "/moved/api/v1/query":
			http.Redirect(w, r, other.URL+"/api/v1/query", http.StatusTemporaryRedirect)
		}
	}))
	defer api.Close()
	c, err := New(api.URL, Options{
		TokenSource: func(context.Context) (string, error) { return "secret", nil },
		Headers:     http.Header{"X-Scope-Orgid": {"tenant-a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Query(context.Background(), "up", time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if want := "/api/v1/query Bearer secret|tenant-a,/moved/api/v1/query Bearer secret|tenant-a"; strings.Join(here, ",") != want {
		t.Errorf("the API's host saw %q, want %q", here, want)
	}
	if strings.Join(elsewhere, ",") != "|" {
		t.Errorf("another host saw credentials %q", elsewhere)
	}
}

// An answer slower than the timeout fails the query and says which flag
// bounds it.
func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(srv.URL, Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Query(context.Background(), "up", time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "did not answer within --request-timeout 50ms") {
		t.Errorf("a query the API never answers: %v", err)
	}
}

// A 2xx answer that is not a vector of data is an error that says what
// came instead.
func TestAnswersThatAreNotAVector(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`<html>login</html>`, "answered something that is not the Prometheus API's JSON (is --prometheus the API's base URL?)"},
		{`{"status":"error","errorType":"execution","error":"query timed out"}`, "answered an error: execution: query timed out"},
		{`{"status":"success","data":{"resultType":"matrix","result":[]}}`, `the API answered a "matrix", not a vector`},
		{`{"status":"success"}`, "the API answered no result, not a vector"},
	} {
		_, _, err := answer(t, 200, tc.body, true, len(tc.body)).Query(context.Background(), "up", time.Unix(0, 0))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
		}
	}
}
