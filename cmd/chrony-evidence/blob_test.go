package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/chronyotel/otelcol-chrony/internal/evidence/blobstore"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/promapi"
	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// The files of a finished report in a container, the marker first.
var reportBlobs = []string{".run.json", "manifest.json", "nodes.csv", "outages.csv", "report.html", "report.pdf", "summary.json", "sync-log.parquet"}

// blobEnv is Azurite with a container "evidence", a client that inspects
// it with the account key, and a fake store with one node.
type blobEnv struct {
	azurite *testkit.Azurite
	c       *container.Client
	store   string
	out     string // the container URL with the prefix aks-prod
}

func newBlobEnv(t *testing.T) *blobEnv {
	t.Helper()
	return newBlobEnvIn(t, testkit.StartAzurite(t, testkit.AzuriteOptions{}), "evidence")
}

// newBlobEnvIn is a blobEnv in a new container of a running Azurite.
func newBlobEnvIn(t *testing.T, a *testkit.Azurite, name string) *blobEnv {
	t.Helper()
	a.CreateContainer(t, nil, name)
	cred, err := container.NewSharedKeyCredential(testkit.AzuriteAccount, testkit.AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(a.URL+"/"+name, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(accountKeyEnv, testkit.AzuriteKey)
	return &blobEnv{azurite: a, c: c, store: oneNodeStore(t, "1e-5"), out: a.URL + "/" + name + "/aks-prod"}
}

func oneNodeStore(t *testing.T, bound string) string {
	return fakeStore{up: []string{chronySeries("n1", points("1", "1", "1", "1"))}, bound: []string{chronySeries("n1", points(bound, bound, bound, bound))}}.start(t)
}

// run makes a report of the fake store's period into out.
func (e *blobEnv) run(ctx context.Context, store, out string, extra ...string) storeRun {
	args := append([]string{"--prometheus", store, "--profile", "voice", "--inventory", "none", "--out", out}, storePeriod...)
	var stdout, stderr bytes.Buffer
	code := run(ctx, append(args, extra...), &stdout, &stderr)
	return storeRun{dir: out, code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// blobState is what the service says of one blob.
type blobState struct {
	etag     azcore.ETag
	modified time.Time
	created  time.Time
	size     int64
}

// list is every blob under prefix/, by name relative to it.
func (e *blobEnv) list(t *testing.T, prefix string) map[string]blobState {
	t.Helper()
	out := map[string]blobState{}
	p := prefix + "/"
	pager := e.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &p})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			out[strings.TrimPrefix(*b.Name, p)] = blobState{etag: *b.Properties.ETag, modified: *b.Properties.LastModified, created: *b.Properties.CreationTime, size: *b.Properties.ContentLength}
		}
	}
	return out
}

func names(m map[string]blobState) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (e *blobEnv) read(t *testing.T, name string) []byte {
	t.Helper()
	resp, err := e.c.NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *blobEnv) put(t *testing.T, name string, data []byte) {
	t.Helper()
	if _, err := e.c.NewBlockBlobClient(name).Upload(context.Background(), streaming.NopCloser(bytes.NewReader(data)), nil); err != nil {
		t.Fatal(err)
	}
}

func verifyURL(url string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"verify", url}, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// setStorageTransport puts t's transport under the Blob client for the
// test.
func setStorageTransport(t *testing.T, tr policy.Transporter) {
	saved := storageOptions
	storageOptions.Transport = tr
	t.Cleanup(func() { storageOptions = saved })
}

// A report lands in the container, one blob per file under the prefix and
// the period's date, and verify reads it from there. A second run for the
// period refuses before it asks the store anything, and changes no blob.
func TestBlobReport(t *testing.T) {
	e := newBlobEnv(t)
	r := e.run(context.Background(), e.store, e.out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	blobs := e.list(t, "aks-prod")
	if got := names(blobs); !slices.Equal(got, reportBlobs) {
		t.Fatalf("blobs under aks-prod/: %v, want %v", got, reportBlobs)
	}
	props, err := e.c.NewBlobClient("aks-prod/report.pdf").GetProperties(context.Background(), nil)
	if err != nil || props.ContentType == nil || *props.ContentType != "application/pdf" {
		t.Errorf("report.pdf's content type: %v, %v", props.ContentType, err)
	}
	var marker blobstore.Attempt
	var manifest struct {
		GeneratedAt string `json:"generated_at"`
	}
	json.Unmarshal(e.read(t, "aks-prod/.run.json"), &marker)
	json.Unmarshal(e.read(t, "aks-prod/manifest.json"), &manifest)
	if marker.Schema != blobstore.AttemptSchema || marker.GeneratedAt == "" || marker.GeneratedAt != manifest.GeneratedAt || marker.Profile != "voice" || marker.From != "2026-10-01T00:00:00Z" {
		t.Errorf("marker %+v, manifest generated at %s", marker, manifest.GeneratedAt)
	}

	if code, stdout, stderr := verifyURL(e.out); code != 0 || !strings.Contains(stdout, "every file matches its SHA-256") {
		t.Errorf("verify %s: exit %d, %s%s", e.out, code, stdout, stderr)
	}

	var asked atomic.Int32
	counted := fakeStoreCounting(t, &asked)
	again := e.run(context.Background(), counted, e.out)
	if again.code != 1 || !strings.Contains(again.stderr, "already holds a report (manifest.json, written ") || !strings.Contains(again.stderr, "never overwritten") {
		t.Errorf("second run: exit %d, %s", again.code, again.stderr)
	}
	if asked.Load() != 0 {
		t.Errorf("the second run asked the store %d times before refusing", asked.Load())
	}
	if after := e.list(t, "aks-prod"); !maps(after, blobs) {
		t.Errorf("the second run changed blobs:\nbefore %v\nafter  %v", blobs, after)
	}

	// --previous day writes under the prefix's date.
	job, err := (&reportOptions{promURL: e.store, out: e.azurite.URL + "/evidence/daily/", previous: "day", profile: "voice", inventory: "auto", step: 30 * time.Second, maxResponseBytes: 1}).job(time.Date(2026, 11, 4, 0, 30, 0, 0, time.UTC))
	if err != nil || job.outDir != e.azurite.URL+"/evidence/daily/2026-11-03" {
		t.Errorf("--previous day into a container: %q, %v", job.outDir, err)
	}
}

func maps(a, b map[string]blobState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// fakeStoreCounting is a store that counts what it is asked and answers
// nothing useful.
func fakeStoreCounting(t *testing.T, asked *atomic.Int32) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "not here", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// stopAfter is a transport that ends the run, as a SIGTERM would, once n
// blobs were created: the next request fails with the run's context.
type stopAfter struct {
	n       int
	cancel  context.CancelFunc
	mu      sync.Mutex
	created []string
}

func (s *stopAfter) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err == nil && req.Method == http.MethodPut && resp.StatusCode == http.StatusCreated && !strings.Contains(req.URL.RawQuery, "restype=container") {
		s.mu.Lock()
		s.created = append(s.created, req.URL.Path)
		if len(s.created) == s.n {
			s.cancel()
		}
		s.mu.Unlock()
	}
	return resp, err
}

// A run stopped after n of its uploads leaves blobs without a manifest,
// which verify reports. The next run for the period completes the report:
// it uploads only the missing blobs, and every blob the first run left
// keeps its ETag, Last-Modified and creation time; the report verifies, and
// records the first run's generation time.
func TestBlobRerunCompletesAStoppedRun(t *testing.T) {
	a := testkit.StartAzurite(t, testkit.AzuriteOptions{})
	for _, n := range []int{1, 3, 7} {
		t.Run(strings.Repeat("I", n), func(t *testing.T) {
			e := newBlobEnvIn(t, a, fmt.Sprintf("stopped-after-%d", n))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := &stopAfter{n: n, cancel: cancel}
			setStorageTransport(t, stop)
			r := e.run(ctx, e.store, e.out)
			if r.code != 1 || !strings.Contains(r.stderr, "context canceled") {
				t.Fatalf("stopped run: exit %d, %s", r.code, r.stderr)
			}
			storageOptions.Transport = nil
			left := e.list(t, "aks-prod")
			if len(left) != n || left[".run.json"] == (blobState{}) {
				t.Fatalf("the stopped run left %v, want the marker and %d more", names(left), n-1)
			}
			if _, ok := left["manifest.json"]; ok {
				t.Fatal("the stopped run wrote the manifest")
			}
			if code, _, stderr := verifyURL(e.out); code != 1 || !strings.Contains(stderr, "manifest.json: missing") {
				t.Errorf("verify of the unfinished report: exit %d, %s", code, stderr)
			}
			// Azurite's Last-Modified has whole seconds: a rewrite would
			// show.
			time.Sleep(1100 * time.Millisecond)

			r = e.run(context.Background(), e.store, e.out)
			if r.code != 0 {
				t.Fatalf("rerun: exit %d, %s", r.code, r.stderr)
			}
			var kept, uploaded []string
			for _, name := range []string{"nodes.csv", "outages.csv", "report.html", "report.pdf", "summary.json", "sync-log.parquet", "manifest.json"} { // the order of the uploads
				if _, ok := left[name]; ok {
					kept = append(kept, name)
				} else {
					uploaded = append(uploaded, name)
				}
			}
			if want := "uploaded " + list(uploaded) + "; already there with the same bytes: " + list(kept); !strings.Contains(r.stdout, "completed the report begun at") || !strings.Contains(r.stdout, want) {
				t.Errorf("rerun's stdout: %s\nwant %q", r.stdout, want)
			}
			after := e.list(t, "aks-prod")
			if got := names(after); !slices.Equal(got, reportBlobs) {
				t.Fatalf("after the rerun: %v", got)
			}
			for name, before := range left {
				if after[name] != before {
					t.Errorf("%s was rewritten: %+v, then %+v", name, before, after[name])
				}
			}
			t.Logf("left by the stopped run, unchanged by the rerun: %v", describeBlobs(left))
			var marker blobstore.Attempt
			var manifest struct {
				GeneratedAt string `json:"generated_at"`
			}
			json.Unmarshal(e.read(t, "aks-prod/.run.json"), &marker)
			json.Unmarshal(e.read(t, "aks-prod/manifest.json"), &manifest)
			if manifest.GeneratedAt != marker.GeneratedAt {
				t.Errorf("manifest generated at %s, the first run at %s", manifest.GeneratedAt, marker.GeneratedAt)
			}
			if code, stdout, stderr := verifyURL(e.out); code != 0 {
				t.Errorf("verify of the completed report: exit %d, %s%s", code, stdout, stderr)
			}
		})
	}
}

func describeBlobs(m map[string]blobState) string {
	var out []string
	for _, n := range names(m) {
		out = append(out, n+" "+string(m[n].etag)+" "+m[n].modified.UTC().Format(time.RFC3339))
	}
	return strings.Join(out, "; ")
}

// A rerun whose data differs from what the stopped run uploaded cannot
// complete that report: it fails naming the blob, writes no manifest and
// changes nothing. A rerun with other parameters is refused before it
// collects.
func TestBlobRerunThatDiffers(t *testing.T) {
	e := newBlobEnv(t)
	// One store URL whose data changes between the runs.
	var later atomic.Bool
	first, _ := url.Parse(e.store)
	second, _ := url.Parse(oneNodeStore(t, "2e-5"))
	p1, p2 := httputil.NewSingleHostReverseProxy(first), httputil.NewSingleHostReverseProxy(second)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if later.Load() {
			p2.ServeHTTP(w, r)
			return
		}
		p1.ServeHTTP(w, r)
	}))
	defer store.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	setStorageTransport(t, &stopAfter{n: 3, cancel: cancel})
	if r := e.run(ctx, store.URL, e.out); r.code != 1 {
		t.Fatalf("stopped run: exit %d, %s", r.code, r.stderr)
	}
	storageOptions.Transport = nil
	left := e.list(t, "aks-prod")

	later.Store(true)
	r := e.run(context.Background(), store.URL, e.out)
	if r.code != 1 || !strings.Contains(r.stderr, "writing "+e.out+"/nodes.csv: already there with other content") || !strings.Contains(r.stderr, "another --out") {
		t.Errorf("rerun with other data: exit %d, %s", r.code, r.stderr)
	}
	r = e.run(context.Background(), store.URL, e.out, "--cluster", "other")
	if r.code != 1 || !strings.Contains(r.stderr, "unfinished report begun at") || !strings.Contains(r.stderr, `cluster "" there, "other" now`) {
		t.Errorf("rerun with other parameters: exit %d, %s", r.code, r.stderr)
	}
	if after := e.list(t, "aks-prod"); !maps(after, left) {
		t.Errorf("the refused reruns changed blobs:\nbefore %v\nafter  %v", left, after)
	}
}

// verify of a report in a container reports a blob added beside it, one
// further down its prefix, and an altered file, as it does for a directory.
func TestBlobVerifyRefuses(t *testing.T) {
	e := newBlobEnv(t)
	if r := e.run(context.Background(), e.store, e.out); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	e.put(t, "aks-prod/extra.txt", []byte("x"))
	e.put(t, "aks-prod/sub/nodes.csv", []byte("x"))
	nodes := e.read(t, "aks-prod/nodes.csv")
	nodes[len(nodes)/2] ^= 1
	e.put(t, "aks-prod/nodes.csv", nodes)
	code, _, stderr := verifyURL(e.out)
	for _, want := range []string{"extra.txt: not in the manifest", "sub/nodes.csv: not in the manifest", "nodes.csv: SHA-256"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("verify: exit %d, %s; want %q", code, stderr, want)
		}
	}
	if code, _, stderr := verifyURL(e.azurite.URL + "/evidence/nothing-here"); code != 1 || !strings.Contains(stderr, "manifest.json: missing") {
		t.Errorf("verify of an empty prefix: exit %d, %s", code, stderr)
	}
}

// What the emulator's account key and a container URL must be.
func TestBlobURLAndKeyRules(t *testing.T) {
	store := oneNodeStore(t, "1e-5")
	for _, c := range []struct {
		name, out, key string
		code           int
		want           string
	}{
		{"no prefix", "https://acct.blob.core.windows.net/evidence", "", 2, "name a prefix for the report after the container"},
		{"a SAS", "https://acct.blob.core.windows.net/evidence/p?sv=1&sig=secret", "", 2, "without a query"},
		{"http to Azure", "http://acct.blob.core.windows.net/evidence/p", "", 2, "over https only"},
		{"bad container", "https://acct.blob.core.windows.net/Evidence/p", "", 2, "no valid container name"},
		{"dot-dot", "https://acct.blob.core.windows.net/evidence/a/../b", "", 2, "'..'"},
		{"account key for Azure", "https://acct.blob.core.windows.net/evidence/p", testkit.AzuriteKey, 2, "AZURE_STORAGE_ACCOUNT_KEY is for the storage emulator"},
		{"no workload identity", "https://acct.blob.core.windows.net/evidence/p", "", 2, "storage is reached with workload identity: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, name := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"} {
				t.Setenv(name, "")
			}
			t.Setenv(accountKeyEnv, c.key)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"--prometheus", store, "--profile", "voice", "--out", c.out}, storePeriod...), &stdout, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.want) || strings.Contains(stderr.String(), "secret") {
				t.Errorf("exit %d, %s; want %d and %q", code, stderr.String(), c.code, c.want)
			}
		})
	}
}

// A missing container is named, with what to do. A wrong account key:
// storage refuses it, exit 3, nothing written.
func TestBlobMissingContainerAndRefusedKey(t *testing.T) {
	e := newBlobEnv(t)
	r := e.run(context.Background(), e.store, e.azurite.URL+"/missing/p")
	if r.code != 1 || !strings.Contains(r.stderr, "the container "+e.azurite.URL+"/missing does not exist: create it") {
		t.Errorf("a missing container: exit %d, %s", r.code, r.stderr)
	}
	t.Setenv(accountKeyEnv, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 64)))
	r = e.run(context.Background(), e.store, e.out)
	if r.code != 3 || !strings.Contains(r.stderr, "storage answered 403") {
		t.Errorf("a wrong key: exit %d, %s; want 3 and the refusal", r.code, r.stderr)
	}
	if left := e.list(t, "aks-prod"); len(left) != 0 {
		t.Errorf("left %v", names(left))
	}
}

// Workload identity end to end: one credential gets a token for the query
// API and one for storage from a fake Entra ID, the report lands in Azurite
// over HTTPS with Azurite checking the bearer token, and verify reads it
// back the same way. A federated credential Entra ID refuses exits 3.
func TestBlobWorkloadIdentity(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t)
	a := testkit.StartAzurite(t, testkit.AzuriteOptions{CertFile: certFile, KeyFile: keyFile, OAuth: true})
	entra, scopes := fakeEntraForBoth(t, "projected-sa-token")
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	roots.AddCert(entra.Certificate())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	a.CreateContainer(t, client, "evidence")

	savedID, savedStorage := identityOptions, storageOptions
	t.Cleanup(func() { identityOptions, storageOptions = savedID, savedStorage })
	identityOptions.Transport, identityOptions.DisableInstanceDiscovery = client, true
	storageOptions.Transport = client

	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	os.WriteFile(tokenFile, []byte("projected-sa-token"), 0o600)
	t.Setenv(accountKeyEnv, "")
	t.Setenv("AZURE_TENANT_ID", "tenant-1")
	t.Setenv("AZURE_CLIENT_ID", "client-1")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	t.Setenv("AZURE_AUTHORITY_HOST", entra.URL+"/")

	var seen []string
	var mu sync.Mutex
	inner, _ := url.Parse(oneNodeStore(t, "1e-5"))
	proxy := httputil.NewSingleHostReverseProxy(inner)
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer prom.Close()

	out := a.URL + "/evidence/aks-prod"
	e := &blobEnv{}
	r := e.run(context.Background(), prom.URL, out, "--azure-workload-identity")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mu.Lock()
	for _, h := range seen {
		if h != "Bearer monitor-token" {
			t.Errorf("the query API got Authorization %q", h)
		}
	}
	mu.Unlock()
	if got := scopes(); got[promapi.AzureMonitorScope] != 1 || got[blobstore.StorageScope] != 1 || len(got) != 2 {
		t.Errorf("token exchanges by scope %v: want one for the query API and one for storage", got)
	}
	if code, stdout, stderr := verifyURL(out); code != 0 {
		t.Errorf("verify %s with workload identity: exit %d, %s%s", out, code, stdout, stderr)
	}

	// Entra ID refuses another projected token: exit 3, before the store is
	// asked anything.
	os.WriteFile(tokenFile, []byte("another-token"), 0o600)
	n := len(seen)
	r = e.run(context.Background(), prom.URL, a.URL+"/evidence/other", "--azure-workload-identity")
	if r.code != 3 || !strings.Contains(r.stderr, "Entra ID refused the workload identity token exchange for storage") || !strings.Contains(r.stderr, "AADSTS700213") {
		t.Errorf("refused exchange: exit %d, %s", r.code, r.stderr)
	}
	if len(seen) != n {
		t.Errorf("the query API was asked %d times after a refused exchange", len(seen)-n)
	}
	if code, _, stderr := verifyURL(out); code != 3 {
		t.Errorf("verify with a refused exchange: exit %d, %s", code, stderr)
	}
}

// fakeEntraForBoth answers as Entra ID's v2.0 endpoints (as promapi's test
// does) for the federated assertion want: the query API's scope gets an
// opaque token, storage's a JWT Azurite accepts (its "basic" OAuth checks
// the issuer, audience and lifetime, not the signature). It counts the
// exchanges by scope.
func fakeEntraForBoth(t *testing.T, want string) (*httptest.Server, func() map[string]int) {
	var mu sync.Mutex
	byScope := map[string]int{}
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tenant-1/v2.0/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{
				"token_endpoint":         srv.URL + "/tenant-1/oauth2/v2.0/token",
				"authorization_endpoint": srv.URL + "/tenant-1/oauth2/v2.0/authorize",
				"issuer":                 srv.URL + "/tenant-1/v2.0",
			})
			return
		case "/tenant-1/oauth2/v2.0/token":
		default:
			http.NotFound(w, r)
			return
		}
		r.ParseForm()
		f := r.PostForm
		if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != "client-1" || f.Get("client_assertion") != want {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found"}`))
			return
		}
		scopes := strings.Fields(f.Get("scope"))
		var token string
		switch {
		case slices.Contains(scopes, promapi.AzureMonitorScope):
			token = "monitor-token"
			mu.Lock()
			byScope[promapi.AzureMonitorScope]++
			mu.Unlock()
		case slices.Contains(scopes, blobstore.StorageScope):
			now := time.Now().Unix()
			token = jwt(map[string]any{"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/tenant-1/", "iat": now, "nbf": now - 60, "exp": now + 3600})
			mu.Lock()
			byScope[blobstore.StorageScope]++
			mu.Unlock()
		default:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_scope","error_description":"AADSTS70011: unknown scope"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
	}))
	t.Cleanup(srv.Close)
	return srv, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range byScope {
			out[k] = v
		}
		return out
	}
}

func jwt(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString([]byte("not-checked"))
}

// selfSigned writes a certificate for 127.0.0.1 and its key, for Azurite's
// HTTPS.
func selfSigned(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "azurite"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, cert
}

// The daily CronJob's route: scheduled runs into a container link each
// report to the one before it and compare with it, as they do in a
// directory; verify --chain walks the container, and names a report
// altered or removed there.
func TestBlobScheduledChain(t *testing.T) {
	e := newBlobEnv(t)
	key := newKey(t)
	url := anyPeriodStore(t)
	var stdouts []string
	for d := 1; d <= 3; d++ {
		args := []string{"--prometheus", url, "--profile", "voice", "--step", "1h", "--inventory", "none", "--previous", "day", "--out", e.out, "--signing-key", key.private}
		code, stdout, stderr := runAt(t, day(d+1).Add(30*time.Minute), args...)
		if code != 0 {
			t.Fatalf("the report of 2026-12-%02d: exit %d: %s", d, code, stderr)
		}
		if d > 1 && strings.Contains(stderr, "previous") {
			t.Errorf("the report of 2026-12-%02d warns: %s", d, stderr)
		}
		stdouts = append(stdouts, stdout)
	}
	first := e.read(t, "aks-prod/2026-12-01/manifest.json")
	sum := sha256.Sum256(first)
	second := e.read(t, "aks-prod/2026-12-02/manifest.json")
	want := fmt.Sprintf(`"previous_report": {
    "name": "2026-12-01",
    "from": "2026-12-01T00:00:00Z",
    "to": "2026-12-02T00:00:00Z",
    "manifest_sha256": "%s"
  }`, hex.EncodeToString(sum[:]))
	if !strings.Contains(string(second), want) || !strings.Contains(string(first), `"previous_report": null`) {
		t.Errorf("2026-12-02's manifest:\n%s\nwant\n%s", second, want)
	}
	if !strings.Contains(stdouts[1], e.out+"/2026-12-02: manifest.json SHA-256 ") || !strings.Contains(stdouts[1], "follows 2026-12-01") {
		t.Errorf("the second run said %q", stdouts[1])
	}
	var s struct {
		PreviousPeriod *struct {
			Report, From, To string
			Nodes            int
		} `json:"previous_period"`
	}
	if err := json.Unmarshal(e.read(t, "aks-prod/2026-12-02/summary.json"), &s); err != nil {
		t.Fatal(err)
	}
	if p := s.PreviousPeriod; p == nil || p.Report != "2026-12-01" || p.From != "2026-12-01T00:00:00Z" || p.To != "2026-12-02T00:00:00Z" || p.Nodes != 1 {
		t.Errorf("2026-12-02 compared with %+v", p)
	}

	verifyChain := func() (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"verify", "--chain", "--public-key", key.public, e.out}, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, stdout, stderr := verifyChain(); code != 0 || !strings.Contains(stdout, e.out+" (day reports): 3 reports, each verifies and follows the one before it with no gap") ||
		!strings.Contains(stdout, e.out+"/2026-12-02: every file matches its SHA-256 in the manifest; the signature by key SHA-256 "+key.fingerprint+" is good") {
		t.Errorf("verify --chain: exit %d\n%s%s", code, stdout, stderr)
	}

	// Where the container is not write-once, a rewritten file shows, and
	// a report removed from the middle breaks the chain by name.
	e.put(t, "aks-prod/2026-12-02/nodes.csv", []byte("node\n"))
	if code, _, stderr := verifyChain(); code != 1 || !strings.Contains(stderr, e.out+"/2026-12-02: nodes.csv: SHA-256") {
		t.Errorf("a rewritten file: exit %d, %s", code, stderr)
	}
	for name := range e.list(t, "aks-prod/2026-12-02") {
		if _, err := e.c.NewBlobClient("aks-prod/2026-12-02/"+name).Delete(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := verifyChain(); code != 1 || !strings.Contains(stderr, "missing link: 2026-12-03 records previous report 2026-12-02 (2026-12-02T00:00:00Z to 2026-12-03T00:00:00Z") {
		t.Errorf("a removed report: exit %d, %s", code, stderr)
	}
	// The next run follows the latest report there, and says that the
	// report before it does not verify.
	code, _, stderr := runAt(t, day(5).Add(30*time.Minute), "--prometheus", url, "--profile", "voice", "--step", "1h", "--inventory", "none", "--previous", "day", "--out", e.out)
	if code != 0 || strings.Contains(stderr, "does not verify") {
		t.Errorf("the report of 2026-12-04: exit %d, %s", code, stderr)
	}
	if m := e.read(t, "aks-prod/2026-12-04/manifest.json"); !strings.Contains(string(m), `"name": "2026-12-03"`) {
		t.Errorf("2026-12-04 follows:\n%s", m)
	}
	// A --from/--to run follows the report --chain-previous names by its
	// URL, and is compared with the report of the period before its own.
	code, _, stderr = runAt(t, day(9), "--prometheus", url, "--profile", "voice", "--step", "1h", "--inventory", "none",
		"--from", "2026-12-05T00:00:00Z", "--to", "2026-12-06T00:00:00Z", "--out", e.out+"/rerun-12-05", "--chain-previous", e.out+"/2026-12-04")
	if code != 0 {
		t.Fatalf("--chain-previous URL: exit %d, %s", code, stderr)
	}
	if m := e.read(t, "aks-prod/rerun-12-05/manifest.json"); !strings.Contains(string(m), `"name": "2026-12-04"`) {
		t.Errorf("--chain-previous URL: the report follows:\n%s", m)
	}
	if sum := e.read(t, "aks-prod/rerun-12-05/summary.json"); !strings.Contains(string(sum), `"report": "2026-12-04"`) {
		t.Errorf("--from/--to into a container is not compared with 2026-12-04:\n%s", sum)
	}
	code, _, stderr = runAt(t, day(9), "--prometheus", url, "--profile", "voice", "--step", "1h", "--inventory", "none",
		"--from", "2026-12-05T00:00:00Z", "--to", "2026-12-06T00:00:00Z", "--out", e.out+"/rerun-again", "--chain-previous", e.out+"/2026-12-02")
	if code != 2 || !strings.Contains(stderr, "--chain-previous: "+e.out+"/2026-12-02 holds no manifest.json") {
		t.Errorf("--chain-previous of a removed report: exit %d, %s", code, stderr)
	}
}

// worm is a container under a locked time-based retention policy, in front
// of Azurite (which has none): a blob that exists cannot be overwritten or
// deleted, whatever the request's conditions, which the service refuses
// with 409 BlobImmutableDueToPolicy before it looks at them (the strictest
// order it could check them in).
type worm struct {
	next    policy.Transporter
	exists  func(path string) bool
	mu      sync.Mutex
	refused []string
}

func (w *worm) Do(req *http.Request) (*http.Response, error) {
	blobOp := !strings.Contains(req.URL.RawQuery, "restype=container")
	refuse := blobOp && req.Method == http.MethodDelete
	if blobOp && req.Method == http.MethodPut {
		refuse = w.exists(req.URL.Path)
	}
	if !refuse {
		return w.next.Do(req)
	}
	w.mu.Lock()
	w.refused = append(w.refused, req.Method+" "+req.URL.Path)
	w.mu.Unlock()
	const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobImmutableDueToPolicy</Code><Message>This operation is not permitted as the blob is immutable due to a policy.</Message></Error>`
	return &http.Response{StatusCode: http.StatusConflict, Status: "409 Conflict", Request: req, ContentLength: int64(len(body)),
		Header: http.Header{"X-Ms-Error-Code": {"BlobImmutableDueToPolicy"}, "Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

// Under a retention policy that refuses any write over an existing blob, a
// run stopped half-way is completed by the next one, and a finished report
// is refused, as on a container without one.
func TestBlobUnderRetentionPolicy(t *testing.T) {
	e := newBlobEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &worm{next: &stopAfter{n: 4, cancel: cancel}, exists: func(path string) bool {
		name := strings.TrimPrefix(path, "/"+testkit.AzuriteAccount+"/evidence/")
		_, err := e.c.NewBlobClient(name).GetProperties(context.Background(), nil)
		return err == nil
	}}
	setStorageTransport(t, w)
	if r := e.run(ctx, e.store, e.out); r.code != 1 || !strings.Contains(r.stderr, "context canceled") {
		t.Fatalf("stopped run: exit %d, %s", r.code, r.stderr)
	}
	left := e.list(t, "aks-prod")
	w.next = http.DefaultClient
	r := e.run(context.Background(), e.store, e.out)
	if r.code != 0 {
		t.Fatalf("rerun under the policy: exit %d, %s", r.code, r.stderr)
	}
	after := e.list(t, "aks-prod")
	if got := names(after); !slices.Equal(got, reportBlobs) {
		t.Fatalf("after the rerun: %v", got)
	}
	for name, before := range left {
		if after[name] != before {
			t.Errorf("%s was rewritten under the policy", name)
		}
	}
	// Each blob the stopped run left was met once, refused, read back and
	// kept; nothing was ever deleted.
	if len(w.refused) != len(left)-1 { // the marker is read, not written again
		t.Errorf("refused %d writes, want %d (the blobs left but the marker): %q", len(w.refused), len(left)-1, w.refused)
	}
	for _, r := range w.refused {
		if strings.HasPrefix(r, "DELETE") {
			t.Errorf("the tool asked to delete: %s", r)
		}
	}
	if code, stdout, stderr := verifyURL(e.out); code != 0 {
		t.Errorf("verify: exit %d, %s%s", code, stdout, stderr)
	}
	if r := e.run(context.Background(), e.store, e.out); r.code != 1 || !strings.Contains(r.stderr, "already holds a report") {
		t.Errorf("a second run: exit %d, %s", r.code, r.stderr)
	}
}

// refuseRead answers 403 to GETs of one blob, as storage that denies a read.
type refuseRead struct{ path string }

func (r refuseRead) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, r.path) {
		return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: req, Body: io.NopCloser(strings.NewReader("")),
			Header: http.Header{"X-Ms-Error-Code": {"AuthorizationPermissionMismatch"}}}, nil
	}
	return http.DefaultClient.Do(req)
}

// What a scheduled run into a container does at the edges: a rerun that
// completes a report follows and compares as the first attempt found, even
// when what is beside it changed since; a previous report it cannot read
// fails the run rather than being passed over for an older one; a report
// with a stray blob is linked but not compared with; verify --chain takes
// one report's URL.
func TestBlobChainEdges(t *testing.T) {
	e := newBlobEnv(t)
	url := anyPeriodStore(t)
	scheduled := func(ctx context.Context, d int) (int, string, string) {
		return runAtCtx(t, ctx, day(d+1).Add(30*time.Minute), "--prometheus", url, "--profile", "voice", "--step", "1h", "--inventory", "none", "--previous", "day", "--out", e.out)
	}
	if code, _, stderr := scheduled(context.Background(), 1); code != 0 {
		t.Fatalf("day 1: %s", stderr)
	}
	first := e.read(t, "aks-prod/2026-12-01/manifest.json")

	// Day 2 stops after its summary; day 1 is then removed (a container
	// without a policy); the rerun still renders the link and comparison
	// the first attempt found, and so the same bytes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	setStorageTransport(t, &stopAfter{n: 6, cancel: cancel})
	if code, _, stderr := scheduled(ctx, 2); code != 1 {
		t.Fatalf("the stopped run: exit %d, %s", code, stderr)
	}
	storageOptions.Transport = nil
	left := e.list(t, "aks-prod/2026-12-02")
	if _, ok := left["summary.json"]; !ok {
		t.Fatalf("the stopped run left %v", names(left))
	}
	for name := range e.list(t, "aks-prod/2026-12-01") {
		if _, err := e.c.NewBlobClient("aks-prod/2026-12-01/"+name).Delete(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := scheduled(context.Background(), 2)
	if code != 0 || !strings.Contains(stdout, "completed the report begun at") {
		t.Fatalf("the rerun: exit %d, %s%s", code, stdout, stderr)
	}
	sum := sha256.Sum256(first)
	if m := e.read(t, "aks-prod/2026-12-02/manifest.json"); !strings.Contains(string(m), hex.EncodeToString(sum[:])) {
		t.Errorf("the completed report does not follow day 1 as the first attempt found it:\n%s", m)
	}
	if s := e.read(t, "aks-prod/2026-12-02/summary.json"); !strings.Contains(string(s), `"report": "2026-12-01"`) {
		t.Errorf("the completed report is not compared with day 1:\n%s", s)
	}

	// A previous report whose manifest cannot be read fails the run; it is
	// not passed over for an older one.
	setStorageTransport(t, refuseRead{"/aks-prod/2026-12-02/manifest.json"})
	code, _, stderr = scheduled(context.Background(), 3)
	if code != 3 || !strings.Contains(stderr, "reading the previous report's manifest") {
		t.Errorf("an unreadable previous report: exit %d, %s", code, stderr)
	}
	storageOptions.Transport = nil
	if left := e.list(t, "aks-prod/2026-12-03"); len(left) != 0 {
		t.Errorf("the failed run wrote %v", names(left))
	}

	// A stray blob under the previous report: linked to, with a warning,
	// not compared with.
	e.put(t, "aks-prod/2026-12-02/extra/notes.txt", []byte("x"))
	code, _, stderr = scheduled(context.Background(), 3)
	if code != 0 || !strings.Contains(stderr, "extra/notes.txt: not in the manifest") || !strings.Contains(stderr, "no comparison with the previous period") {
		t.Errorf("a previous report with a stray blob: exit %d, %s", code, stderr)
	}
	if s := e.read(t, "aks-prod/2026-12-03/summary.json"); !strings.Contains(string(s), `"previous_period": null`) {
		t.Errorf("compared with a report that does not verify:\n%s", s)
	}

	// verify --chain of one report's URL is a chain of one, as for a
	// directory: it verifies, and the report it records is not there.
	var so, se bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--chain", e.out + "/2026-12-03"}, &so, &se); code != 1 ||
		!strings.Contains(so.String(), e.out+"/2026-12-03: every file matches its SHA-256") || !strings.Contains(se.String(), "missing link: 2026-12-03 records previous report 2026-12-02") {
		t.Errorf("verify --chain of one report: exit %d, %s%s", code, so.String(), se.String())
	}
}
