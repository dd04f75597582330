package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// emptyPrometheus answers every query with an empty result, as a Prometheus
// holding no chrony series does.
func emptyPrometheus(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/query_range":
			w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
		case "/api/v1/query":
			w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorsSayWhatToFix(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	unreachable := "http://" + closed.Addr().String()
	closed.Close()
	unauthorized := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right" {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
	}))
	defer unauthorized.Close()
	wrongToken := filepath.Join(t.TempDir(), "token")
	os.WriteFile(wrongToken, []byte("wrong\n"), 0o600)
	empty := emptyPrometheus(t)
	period := []string{"--from", "2026-10-01T00:00:00Z", "--to", "2026-10-02T00:00:00Z"}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unreachable endpoint", append([]string{"--prometheus", unreachable, "--profile", "finra_cat"}, period...), 1, "cannot reach the query API at " + unreachable + " (check --prometheus"},
		{"401", append([]string{"--prometheus", unauthorized.URL, "--profile", "finra_cat", "--bearer-token-file", wrongToken}, period...), 3, "401 Unauthorized (check --bearer-token-file or --header"},
		{"no chrony data", append([]string{"--prometheus", empty.URL, "--profile", "finra_cat", "--cluster", "aks-prod"}, period...), 1, `no chrony_up samples with k8s_cluster_name="aks-prod" between 2026-10-01T00:00:00Z and 2026-10-02T00:00:00Z`},
		{"unknown profile", append([]string{"--prometheus", empty.URL, "--profile", "mifid2"}, period...), 2, `unknown --profile "mifid2": use one of finra_cat, mifid_ii_algo, mifid_ii_hft, voice, or --tolerance`},
		{"no tolerance", append([]string{"--prometheus", empty.URL}, period...), 2, "give --profile"},
		{"period not whole steps", []string{"--prometheus", empty.URL, "--profile", "voice", "--from", "2026-10-01T00:00:00Z", "--to", "2026-10-01T00:00:45Z"}, 2, "not a whole number of --step 30s"},
		{"reversed period", []string{"--prometheus", empty.URL, "--profile", "voice", "--from", "2026-10-02T00:00:00Z", "--to", "2026-10-01T00:00:00Z"}, 2, "is not after --from"},
		{"not a URL", append([]string{"--prometheus", "prometheus:9090", "--profile", "voice"}, period...), 2, "is not an http(s) URL"},
		{"workload identity without the webhook's settings", append([]string{"--prometheus", empty.URL, "--profile", "voice", "--azure-workload-identity"}, period...), 2,
			"--azure-workload-identity: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"} {
				t.Setenv(name, "")
			}
			out := filepath.Join(t.TempDir(), "report")
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(tc.args, "--out", out), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.code, tc.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("a failed run left %d files in %s", len(entries), out)
			}
		})
	}
}

func TestPreviousPeriod(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		previous, from, to, sub string
	}{
		{"day", "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z", "2026-11-26"},
		{"month", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-10"},
		// 2026-11-27 is a Friday of ISO week 48.
		{"week", "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z", "2026-W47"},
		{"quarter", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2026-Q3"},
		{"year", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2025"},
	} {
		from, to, sub, err := period("", "", tc.previous, now)
		if err != nil || from.Format(time.RFC3339) != tc.from || to.Format(time.RFC3339) != tc.to || sub != tc.sub {
			t.Errorf("--previous %s: %s to %s into %q (%v); want %s to %s into %q", tc.previous, from, to, sub, err, tc.from, tc.to, tc.sub)
		}
	}
	// January's previous month is December of the year before.
	if from, _, _, _ := period("", "", "month", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)); from.Format("2006-01") != "2026-12" {
		t.Errorf("previous month of January 2027: %s", from)
	}
	// The ISO week of 2027-01-01 (a Friday) is 2026's 53rd.
	if from, _, sub, _ := period("", "", "week", time.Date(2027, 1, 4, 1, 0, 0, 0, time.UTC)); from.Format("2006-01-02") != "2026-12-28" || sub != "2026-W53" {
		t.Errorf("previous week of Monday 2027-01-04: %s into %q, want 2026-12-28 into 2026-W53", from, sub)
	}
	if _, _, _, err := period("", "", "fortnight", now); err == nil || !strings.Contains(err.Error(), "day, week, month, quarter or year") {
		t.Errorf("--previous fortnight: %v", err)
	}
	if _, _, _, err := period("2026-11-01T00:00:00Z", "", "day", now); err == nil {
		t.Error("--previous with --from accepted")
	}
}
