package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testbin"
)

// blobListing is what Azurite lists of a container, by blob name.
type blobListing map[string]struct{ ETag, LastModified string }

func listBlobs(t *testing.T, a *testkit.Azurite, container, prefix string) blobListing {
	t.Helper()
	resp, err := a.Do(nil, http.MethodGet, container+"?restype=container&comp=list&prefix="+url.QueryEscape(prefix), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Blobs []struct {
			Name       string `xml:"Name"`
			Properties struct {
				ETag         string `xml:"Etag"`
				LastModified string `xml:"Last-Modified"`
			} `xml:"Properties"`
		} `xml:"Blobs>Blob"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || xml.Unmarshal(body, &list) != nil {
		t.Fatalf("listing %s: %s\n%s", container, resp.Status, body)
	}
	out := blobListing{}
	for _, b := range list.Blobs {
		out[strings.TrimPrefix(b.Name, prefix)] = struct{ ETag, LastModified string }{b.Properties.ETag, b.Properties.LastModified}
	}
	return out
}

func (l blobListing) names() []string {
	var out []string
	for k := range l {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func getBlob(t *testing.T, a *testkit.Azurite, name string) []byte {
	t.Helper()
	resp, err := a.Do(nil, http.MethodGet, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reading %s: %s", name, resp.Status)
	}
	return b
}

// TestEvidenceIntoBlobStorage runs the built chrony-evidence against a real
// Prometheus into a container of Azurite (the emulator's account key
// standing in for workload identity): the process is killed with SIGKILL
// as it begins its fourth upload, the next run completes the report
// without rewriting a blob the killed one left (their ETags and
// Last-Modified are unchanged), verify reads the report from the
// container, the files the generation time is not in are the bytes a run
// into a directory writes, and a third run for the period refuses.
func TestEvidenceIntoBlobStorage(t *testing.T) {
	t.Parallel()
	bin := testbin.Evidence(t)
	prom := backfilledPrometheus(t, evidenceFleet())
	az := testkit.StartAzurite(t, testkit.AzuriteOptions{})
	az.CreateContainer(t, nil, "evidence")
	env := append(os.Environ(), "AZURE_STORAGE_ACCOUNT_KEY="+testkit.AzuriteKey)
	args := []string{"--prometheus", prom, "--from", rfc(evFrom), "--to", rfc(evTo), "--profile", "mifid_ii_algo"}

	// A proxy in front of Azurite that kills the run as its fourth blob
	// (the marker, then nodes.csv and outages.csv went before) is sent.
	target, _ := url.Parse(strings.TrimSuffix(az.URL, "/devstoreaccount1"))
	forward := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var puts int
	var victim *exec.Cmd
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && !strings.Contains(r.URL.RawQuery, "restype=container") {
			mu.Lock()
			puts++
			if puts == 4 {
				victim.Process.Kill()
				mu.Unlock()
				http.Error(w, "killed", http.StatusServiceUnavailable)
				return
			}
			mu.Unlock()
		}
		forward.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	run := func(out string, extra ...string) (code int, stdout, stderr string, killed bool) {
		cmd := exec.Command(bin, append(append(args, "--out", out), extra...)...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		mu.Lock()
		victim = cmd
		err := cmd.Start()
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), o.String(), e.String(), !ee.Exited()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, o.String(), e.String(), false
	}

	proxied := proxy.URL + "/devstoreaccount1/evidence/aks-prod"
	if _, _, stderr, killed := run(proxied); !killed {
		t.Fatalf("the run through the proxy was not killed: %s", stderr)
	}
	left := listBlobs(t, az, "evidence", "aks-prod/")
	if got := strings.Join(left.names(), " "); got != ".run.json nodes.csv outages.csv" {
		t.Fatalf("the killed run left %q, want the marker, nodes.csv and outages.csv", got)
	}

	// Last-Modified has whole seconds: a rewrite would show.
	time.Sleep(1100 * time.Millisecond)
	direct := az.URL + "/evidence/aks-prod"
	code, stdout, stderr, _ := run(direct)
	if code != 0 || !strings.Contains(stdout, "uploaded report.html, report.pdf, summary.json, sync-log.parquet, manifest.json; already there with the same bytes: nodes.csv, outages.csv") {
		t.Fatalf("the rerun: exit %d\n%s%s", code, stdout, stderr)
	}
	after := listBlobs(t, az, "evidence", "aks-prod/")
	if got := strings.Join(after.names(), " "); got != ".run.json manifest.json nodes.csv outages.csv report.html report.pdf summary.json sync-log.parquet" {
		t.Fatalf("after the rerun: %q", got)
	}
	for name, before := range left {
		if after[name] != before {
			t.Errorf("%s was rewritten: ETag %s, Last-Modified %s before; %s, %s after", name, before.ETag, before.LastModified, after[name].ETag, after[name].LastModified)
		}
	}
	t.Logf("left by the killed run, unchanged after the rerun: %v", left)

	verify := exec.Command(bin, "verify", direct)
	verify.Env = env
	if out, err := verify.CombinedOutput(); err != nil {
		t.Errorf("verify %s: %v\n%s", direct, err, out)
	}

	dir := filepath.Join(t.TempDir(), "report")
	if code, _, stderr, _ := run(dir); code != 0 {
		t.Fatalf("the run into a directory: exit %d: %s", code, stderr)
	}
	// The data are the same; the run (its id, time and warnings) is not.
	for _, name := range []string{"nodes.csv", "outages.csv", "sync-log.parquet"} {
		local, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.Equal(local, getBlob(t, az, "evidence/aks-prod/"+name)) {
			t.Errorf("%s in the container differs from the directory's", name)
		}
	}
	withoutRun := func(raw []byte) string {
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		delete(s, "run")
		delete(s, "warnings")
		out, _ := json.Marshal(s)
		return string(out)
	}
	if local, _ := os.ReadFile(filepath.Join(dir, "summary.json")); withoutRun(local) != withoutRun(getBlob(t, az, "evidence/aks-prod/summary.json")) {
		t.Error("summary.json in the container differs from the directory's in more than the run")
	}

	code, _, stderr, _ = run(direct)
	if code != 1 || !strings.Contains(stderr, "already holds a report") {
		t.Errorf("a run for a period whose report is there: exit %d, %s", code, stderr)
	}
	if again := listBlobs(t, az, "evidence", "aks-prod/"); len(again) != len(after) {
		t.Errorf("the refused run changed the container: %v", again.names())
	}
}
