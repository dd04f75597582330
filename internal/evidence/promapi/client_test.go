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
// or streamed without one.
func answer(t *testing.T, status int, body string, contentLength bool) *Client {
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
	c, err := New(srv.URL, Options{MaxResponseBytes: int64(len(body))})
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
		_, _, err := answer(t, tc.status, tc.body, true).Query(context.Background(), "up", time.Unix(0, 0))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d: %v, want %q", tc.status, err, tc.want)
		}
	}
}

// An answer of exactly MaxResponseBytes is read; one byte more is an error,
// announced by Content-Length or not.
func TestMaxResponseBytes(t *testing.T) {
	for _, contentLength := range []bool{true, false} {
		c := answer(t, 200, emptyVector, contentLength)
		if _, _, err := c.Query(context.Background(), "up", time.Unix(0, 0)); err != nil {
			t.Errorf("Content-Length %v: an answer of exactly the bound: %v", contentLength, err)
		}
		c.maxBytes--
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
	series, warnings, err := answer(t, 200, body, true).QueryRange(context.Background(), "q", time.Unix(1790000000, 0), time.Unix(1790000030, 0), 30*time.Second)
	if err != nil || len(series) != 1 || len(series[0].Values) != 1 || series[0].Values[0] != (Point{T: 1790000030000, V: 1e-5}) {
		t.Fatalf("series %+v, %v", series, err)
	}
	if strings.Join(warnings, "|") != "partial response: store a unavailable|PromQL warning: x" {
		t.Errorf("warnings %q", warnings)
	}
}
