package testkit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// AzuriteVersion is the Azure Storage emulator the tests run: npm's
// azurite, which scripts/install-deps.sh installs into .tools/azurite.
const AzuriteVersion = "3.37.0"

// The emulator's well-known account and key, which Azurite documents and
// accepts; they guard nothing.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// AzuriteOptions say how to run the emulator; the zero value serves plain
// HTTP on 127.0.0.1 with shared-key authentication.
type AzuriteOptions struct {
	// Host is the address to listen on; 127.0.0.1 when empty.
	Host string
	// CertFile and KeyFile, both set, serve HTTPS with that certificate,
	// which Azurite needs for OAuth.
	CertFile, KeyFile string
	// OAuth accepts Entra ID bearer tokens (Azurite's "basic" level: the
	// token's issuer, audience and lifetime are checked, not its signature).
	// Needs HTTPS.
	OAuth bool
}

// Azurite is a running Azurite blob service, stopped when the test ends.
type Azurite struct {
	// URL is the account's endpoint in the emulator's path style,
	// http(s)://HOST:PORT/devstoreaccount1.
	URL string
	cmd *exec.Cmd
	log string
}

// AzuriteBlob returns the path of azurite-blob: the project's own install
// (.tools/azurite, scripts/install-deps.sh) or one on PATH. Missing, the
// test fails under CI=true and is skipped elsewhere.
func AzuriteBlob(t T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	local := filepath.Join(filepath.Dir(file), "..", "..", ".tools", "azurite", "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	Unavailable(t, "azurite-blob not found", "run ./scripts/install-deps.sh azurite (npm azurite@"+AzuriteVersion+" into .tools/azurite); make test and .ci/run do")
	return ""
}

// StartAzurite runs Azurite's blob service on a free port with its data in
// a temporary directory, and waits until it answers.
//
// It runs with --skipApiVersionCheck, since the Azure SDK may speak a newer
// service version than the emulator knows, and --disableTelemetry, since the
// emulator reports usage to Microsoft otherwise and tests send nothing off
// the machine.
func StartAzurite(t T, opts AzuriteOptions) *Azurite {
	t.Helper()
	bin := AzuriteBlob(t)
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := FreeTCPPort(t)
	args := []string{"--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location", filepath.Join(dir, "data"),
		"--blobHost", host, "--blobPort", strconv.Itoa(port)}
	scheme := "http"
	if opts.CertFile != "" {
		args = append(args, "--cert", opts.CertFile, "--key", opts.KeyFile)
		scheme = "https"
	}
	if opts.OAuth {
		args = append(args, "--oauth", "basic")
	}
	a := &Azurite{URL: fmt.Sprintf("%s://%s/%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), AzuriteAccount), log: filepath.Join(dir, "azurite.log")}
	out, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = out, out
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("starting azurite-blob: %v", err)
	}
	out.Close()
	exited := make(chan struct{})
	go func() { a.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			a.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(a.log)
			t.Logf("azurite-blob %s:\n%s", strings.Join(args, " "), b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(a.log)
			t.Fatalf("azurite-blob exited before it listened:\n%s", b)
		default:
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			return a
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(a.log)
			t.Fatalf("azurite-blob did not listen on %s:%d within 30s:\n%s", host, port, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends the emulator at once, as a test that needs it gone asks.
func (a *Azurite) Stop() { a.cmd.Process.Kill() }

// CreateContainer creates a container with the account key, over client
// (nil: http.DefaultClient).
func (a *Azurite) CreateContainer(t T, client *http.Client, name string) {
	t.Helper()
	resp, err := a.Do(client, http.MethodPut, name+"?restype=container", nil)
	if err != nil {
		t.Fatalf("creating container %s: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("creating container %s: %s\n%s", name, resp.Status, b)
	}
}

// Do sends one request to the account with the emulator's account key
// (Shared Key authorization), path relative to the account's URL.
func (a *Azurite) Do(client *http.Client, method, path string, body []byte) (*http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var r io.Reader
	if body != nil {
		r = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, a.URL+"/"+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("x-ms-version", "2021-12-02")
	if body != nil {
		req.Header.Set("x-ms-blob-type", "BlockBlob")
	}
	req.Header.Set("Authorization", "SharedKey "+AzuriteAccount+":"+sharedKeySignature(req, len(body)))
	return client.Do(req)
}

// sharedKeySignature signs req as the Blob service's Shared Key
// authorization defines it (version 2015-02-21 and later).
func sharedKeySignature(req *http.Request, length int) string {
	contentLength := ""
	if length > 0 {
		contentLength = strconv.Itoa(length)
	}
	h := req.Header
	var b strings.Builder
	for _, v := range []string{req.Method, h.Get("Content-Encoding"), h.Get("Content-Language"), contentLength, h.Get("Content-MD5"),
		h.Get("Content-Type"), "", h.Get("If-Modified-Since"), h.Get("If-Match"), h.Get("If-None-Match"), h.Get("If-Unmodified-Since"), h.Get("Range")} {
		b.WriteString(v + "\n")
	}
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(n + ":" + strings.TrimSpace(h.Get(n)) + "\n")
	}
	b.WriteString("/" + AzuriteAccount + req.URL.EscapedPath())
	q := req.URL.Query()
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := q[k]
		sort.Strings(vals)
		b.WriteString("\n" + strings.ToLower(k) + ":" + strings.Join(vals, ","))
	}
	key, _ := base64.StdEncoding.DecodeString(AzuriteKey)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
