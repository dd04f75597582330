package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
)

// anyPeriodStore answers every range query, whatever its range, with one
// node up and within 10 µs at each of its steps: reports of any period.
func anyPeriodStore(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		switch r.URL.Path {
		case "/api/v1/status/buildinfo":
			w.Write([]byte(`{"status":"success","data":{"version":"3.1.0"}}`))
			return
		case "/api/v1/query":
			w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
			return
		case "/api/v1/query_range":
		default:
			http.NotFound(w, r)
			return
		}
		value := "1"
		if strings.Contains(r.Form.Get("query"), "ntp_time_max_error_seconds") {
			value = "1e-5"
		}
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		var pts []string
		for ts := start; ts <= end; ts += step {
			pts = append(pts, fmt.Sprintf(`[%s,"%s"]`, strconv.FormatFloat(ts, 'f', -1, 64), value))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, chronySeries("n1", strings.Join(pts, ",")))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// runAt is run, with now for the clock a --previous run reads.
func runAt(t *testing.T, now time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runAtCtx(t, context.Background(), now, args...)
}

// runAtCtx is runAt with the run's context.
func runAtCtx(t *testing.T, ctx context.Context, now time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var so, se bytes.Buffer
	fs, o := reportFlags(&se)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	code = o.report(ctx, now, os.Getenv, &so, &se)
	return code, so.String(), se.String()
}

// day is a day of December 2026.
func day(d int) time.Time { return time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC) }

// scheduled makes the daily report of day d into parent as the daily
// CronJob does, at 00:30 the day after, signed with key when it is not "".
func scheduled(t *testing.T, url, parent string, d int, key string) string {
	t.Helper()
	args := []string{"--prometheus", url, "--profile", "voice", "--step", "1h", "--inventory", "none", "--previous", "day", "--out", parent}
	if key != "" {
		args = append(args, "--signing-key", key)
	}
	code, _, stderr := runAt(t, day(d+1).Add(30*time.Minute), args...)
	if code != 0 {
		t.Fatalf("the report of 2026-12-%02d: exit %d: %s", d, code, stderr)
	}
	return stderr
}

// testKey is a key pair written as PEM files: PKCS#8 and PKIX.
type testKey struct {
	private, public, fingerprint string
}

func newKey(t *testing.T) testKey {
	t.Helper()
	var k testKey
	var pubDER []byte
	k.private, k.public, pubDER = testkit.SigningKey(t, t.TempDir())
	sum := sha256.Sum256(pubDER)
	k.fingerprint = hex.EncodeToString(sum[:])
	return k
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runVerifyArgs runs verify with args.
func runVerifyArgs(args ...string) (code int, stdout, stderr string) {
	var so, se bytes.Buffer
	code = run(context.Background(), append([]string{"verify"}, args...), &so, &se)
	return code, so.String(), se.String()
}

// flipByte changes one bit of a file: of the last byte of the first
// occurrence of old in it, or of its middle byte when old is "".
func flipByte(t *testing.T, path, old string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := len(b) / 2
	if old != "" {
		if i = bytes.Index(b, []byte(old)); i < 0 {
			t.Fatalf("%s has no %q", path, old)
		}
		i += len(old) - 1
	}
	b[i] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A signed report names what is wrong with its signature: a flipped byte,
// another key, no signature at all (issue 20, item 5).
func TestVerifySignature(t *testing.T) {
	url := anyPeriodStore(t)
	a, b := newKey(t), newKey(t)
	period := []string{"--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T00:00:00Z", "--step", "1h", "--inventory", "none"}
	makeOne := func(t *testing.T, key string) string {
		t.Helper()
		extra := period
		if key != "" {
			extra = append(append([]string{}, period...), "--signing-key", key)
		}
		r := runAgainst(t, url, extra...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return r.dir
	}
	// A v1 report: the schema, fields and files of before v2.
	toV1 := func(t *testing.T, dir string) {
		os.Remove(filepath.Join(dir, "sync-log.parquet"))
		editManifest(t, dir, func(m map[string]any) {
			m["schema"] = "chrony-evidence/manifest/v1"
			delete(m, "previous_report")
			delete(m, "signature")
			var files []any
			for _, f := range m["files"].([]any) {
				if f.(map[string]any)["name"] != "sync-log.parquet" {
					files = append(files, f)
				}
			}
			m["files"] = files
		})
	}
	for _, tc := range []struct {
		name    string
		signer  string
		tamper  func(t *testing.T, dir string)
		verify  []string // verify's flags
		code    int
		want    string // a line of stdout (code 0) or stderr
		wantNot string
	}{
		{"signed, checked with its key", a.private, nil, []string{"--public-key", a.public}, 0,
			"every file matches its SHA-256 in the manifest; the signature by key SHA-256 " + a.fingerprint + " is good", ""},
		{"signed, the rotated keys given", a.private, nil, []string{"--public-key", b.public, "--public-key", a.public}, 0,
			"the signature by key SHA-256 " + a.fingerprint + " is good", ""},
		{"signed, no key given", a.private, nil, nil, 0,
			"signed by key SHA-256 " + a.fingerprint + "; the signature was not checked (no --public-key)", ""},
		{"signed with another key", b.private, nil, []string{"--public-key", a.public}, 1,
			"manifest.json.sig: signed with another key: the manifest names key SHA-256 " + b.fingerprint + ", --public-key is " + a.fingerprint, ""},
		{"unsigned, a key given", "", nil, []string{"--public-key", a.public}, 1,
			"not signed: the manifest names no signing key, and --public-key was given", ""},
		{"unsigned, no key given", "", nil, nil, 0, "every file matches its SHA-256 in the manifest; not signed", ""},
		{"a flipped byte in the manifest", a.private, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, "manifest.json"), `"tool": "chrony-evidence`)
		}, []string{"--public-key", a.public}, 1,
			"manifest.json.sig: the signature by key SHA-256 " + a.fingerprint + " does not match manifest.json: the manifest (or the signature) was altered after signing", ""},
		{"a flipped byte in the manifest, no key: the hashes still match", a.private, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, "manifest.json"), `"tool": "chrony-evidence`)
		}, nil, 0, "the signature was not checked (no --public-key)", ""},
		{"a flipped byte in the signature", a.private, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, "manifest.json.sig"), "")
		}, []string{"--public-key", a.public}, 1, "manifest.json.sig: the signature by key SHA-256 " + a.fingerprint + " does not match manifest.json", ""},
		{"a flipped byte in the PDF", a.private, func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, "report.pdf"), "")
		}, []string{"--public-key", a.public}, 1, "report.pdf: SHA-256 ", "manifest.json.sig"},
		{"the signature removed", a.private, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "manifest.json.sig"))
		}, nil, 1, "manifest.json.sig: missing; the manifest says the report is signed by key SHA-256 " + a.fingerprint, ""},
		{"a signature cut short", a.private, func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "manifest.json.sig"), make([]byte, 63), 0o644)
		}, nil, 1, "manifest.json.sig: 63 bytes; an Ed25519 signature is 64", ""},
		{"a signature added to an unsigned report", "", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "manifest.json.sig"), make([]byte, 64), 0o644)
		}, nil, 1, "manifest.json.sig: not in the manifest, which names no signing key: not part of the report", ""},
		{"a v1 report verifies", "", toV1, nil, 0, "every file matches its SHA-256 in the manifest; not signed", ""},
		{"a v1 report, a key given", "", toV1, []string{"--public-key", a.public}, 1, "not signed: the manifest names no signing key", ""},
		{"a v1 report with a file altered", "", func(t *testing.T, dir string) {
			toV1(t, dir)
			flipByte(t, filepath.Join(dir, "nodes.csv"), "")
		}, nil, 1, "nodes.csv: SHA-256 ", ""},
		{"a v1 report without a file", "", func(t *testing.T, dir string) {
			toV1(t, dir)
			editManifest(t, dir, func(m map[string]any) { m["files"] = m["files"].([]any)[1:] })
			os.Remove(filepath.Join(dir, "nodes.csv"))
		}, nil, 1, "nodes.csv: a chrony-evidence/manifest/v1 report has it, the manifest does not list it", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeOne(t, tc.signer)
			if tc.tamper != nil {
				tc.tamper(t, dir)
			}
			code, stdout, stderr := runVerifyArgs(append(tc.verify, dir)...)
			out := stdout
			if tc.code != 0 {
				out = stderr
			}
			if code != tc.code || !strings.Contains(out, tc.want) || (tc.wantNot != "" && strings.Contains(stderr, tc.wantNot)) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tc.code, tc.want)
			}
		})
	}
}

// A report run refuses a signing key it cannot use before it reads the
// store, and writes nothing.
func TestSigningKeyErrors(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	writePEM(t, filepath.Join(dir, "rsa.pem"), "PRIVATE KEY", rsaDER)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	writePEM(t, filepath.Join(dir, "ec.pem"), "PRIVATE KEY", ecDER)
	ecSEC1, _ := x509.MarshalECPrivateKey(ecKey)
	writePEM(t, filepath.Join(dir, "sec1.pem"), "EC PRIVATE KEY", ecSEC1)
	os.WriteFile(filepath.Join(dir, "garbage.pem"), []byte("not a key\n"), 0o600)
	k := newKey(t)
	url := anyPeriodStore(t)

	for _, tc := range []struct{ name, file, want string }{
		{"missing file", filepath.Join(dir, "absent.pem"), "--signing-key: " + filepath.Join(dir, "absent.pem") + ": no such file"},
		{"not PEM", filepath.Join(dir, "garbage.pem"), "holds no PEM block"},
		{"the public key", k.public, `holds a public key (PEM "PUBLIC KEY"); signing needs the private key`},
		{"an EC key in SEC 1", filepath.Join(dir, "sec1.pem"), `holds PEM "EC PRIVATE KEY"; want an Ed25519 private key in PKCS#8, PEM "PRIVATE KEY"`},
		{"an RSA key", filepath.Join(dir, "rsa.pem"), "holds an RSA key (2048 bits), not Ed25519; chrony-evidence signs with Ed25519 only"},
		{"an ECDSA key", filepath.Join(dir, "ec.pem"), "holds an ECDSA key (P-256), not Ed25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report")
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"--prometheus", url, "--profile", "voice", "--inventory", "none", "--out", out,
				"--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T00:00:00Z", "--step", "1h", "--signing-key", tc.file}, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused run made %s", out)
			}
		})
	}
	// verify refuses a private key for --public-key.
	if code, _, stderr := runVerifyArgs("--public-key", k.private, dir); code != 2 || !strings.Contains(stderr, "verify needs only the public key") {
		t.Errorf("verify --public-key PRIVATE: exit %d, %q", code, stderr)
	}
}

// verify --chain names a report removed from the middle of a chain, an
// altered link, a gap, and a report added after the next one was made; a
// chain verifies across a key rotation (issue 20, item 5).
func TestVerifyChain(t *testing.T) {
	url := anyPeriodStore(t)
	a, b := newKey(t), newKey(t)
	for _, tc := range []struct {
		name string
		days []int
		// build makes more reports, or tampers, after the days' reports.
		build   func(t *testing.T, parent string)
		verify  []string // verify's flags and directories; "PARENT" is replaced
		code    int
		want    []string // lines of stderr, in order (each a substring), or of stdout for exit 0
		runWarn string   // a warning of the runs
	}{
		{name: "happy path", days: []int{1, 2, 3, 4}, verify: []string{"--public-key", a.public, "PARENT"},
			want: []string{"the chain starts at 2026-12-01", "the newest report is 2026-12-04, manifest SHA-256 ", "4 reports, each verifies and follows the one before it with no gap"}},
		{name: "a month chain beside the days", days: []int{1, 2}, build: func(t *testing.T, parent string) {
			code, _, stderr := runAt(t, day(1).Add(2*time.Hour), "--prometheus", url, "--profile", "voice", "--step", "24h", "--inventory", "none", "--previous", "month", "--out", parent, "--signing-key", a.private)
			if code != 0 {
				t.Fatalf("month: %s", stderr)
			}
		}, verify: []string{"--public-key", a.public, "PARENT"},
			want: []string{"(day reports): 2 reports, each verifies", "(month reports): the chain starts at 2026-11", "(month reports): 1 report, which verifies"}},
		{name: "a report removed in the middle", days: []int{1, 2, 3, 4}, build: func(t *testing.T, parent string) {
			os.RemoveAll(filepath.Join(parent, "2026-12-02"))
		}, verify: []string{"PARENT"}, code: 1,
			want: []string{"missing link: 2026-12-03 records previous report 2026-12-02 (2026-12-02T00:00:00Z to 2026-12-03T00:00:00Z, manifest SHA-256 "}},
		{name: "the first report removed", days: []int{1, 2, 3}, build: func(t *testing.T, parent string) {
			os.RemoveAll(filepath.Join(parent, "2026-12-01"))
		}, verify: []string{"PARENT"}, code: 1,
			want: []string{"missing link: 2026-12-02 records previous report 2026-12-01"}},
		{name: "an altered link", days: []int{1, 2, 3}, build: func(t *testing.T, parent string) {
			flipByte(t, filepath.Join(parent, "2026-12-02", "manifest.json"), `"tool": "chrony-evidence`)
		}, verify: []string{"PARENT"}, code: 1,
			want: []string{"altered link: 2026-12-03 records manifest SHA-256 ", " for 2026-12-02, whose manifest.json has "}},
		{name: "an altered link, signed", days: []int{1, 2, 3}, build: func(t *testing.T, parent string) {
			flipByte(t, filepath.Join(parent, "2026-12-02", "manifest.json"), `"tool": "chrony-evidence`)
		}, verify: []string{"--public-key", a.public, "PARENT"}, code: 1,
			want: []string{"2026-12-02: manifest.json.sig: the signature by key SHA-256 " + a.fingerprint + " does not match manifest.json", "altered link: 2026-12-03 records manifest SHA-256 "}},
		{name: "a day without a report", days: []int{1, 2, 4}, verify: []string{"PARENT"}, code: 1,
			want:    []string{"gap: no report covers 2026-12-03T00:00:00Z to 2026-12-04T00:00:00Z (between 2026-12-02 and 2026-12-04)"},
			runWarn: "warning: gap: no report covers 2026-12-03T00:00:00Z to 2026-12-04T00:00:00Z (between 2026-12-02 and this report)"},
		{name: "a report added after the next one", days: []int{1, 2, 4}, build: func(t *testing.T, parent string) {
			r := run(context.Background(), []string{"--prometheus", url, "--profile", "voice", "--step", "1h", "--inventory", "none",
				"--from", "2026-12-03T00:00:00Z", "--to", "2026-12-04T00:00:00Z", "--out", filepath.Join(parent, "2026-12-03"),
				"--chain-previous", filepath.Join(parent, "2026-12-02")}, &bytes.Buffer{}, &bytes.Buffer{})
			if r != 0 {
				t.Fatal("the added report was not made")
			}
		}, verify: []string{"PARENT"}, code: 1,
			want: []string{"not in the chain: 2026-12-04 records previous report 2026-12-02, not 2026-12-03, the report before it"}},
		{name: "a directory without a manifest is passed over", days: []int{1}, build: func(t *testing.T, parent string) {
			os.MkdirAll(filepath.Join(parent, "2026-12-02"), 0o755)
			os.WriteFile(filepath.Join(parent, "2026-12-02", "summary.json"), []byte("{}"), 0o644)
			if stderr := scheduled(t, url, parent, 3, a.private); !strings.Contains(stderr, "2026-12-02 holds no manifest.json, so it is not a report") {
				t.Errorf("the run did not say it passed over 2026-12-02: %s", stderr)
			}
		}, verify: []string{"PARENT"}, code: 1,
			want: []string{"2026-12-02: manifest.json: missing: not a report", "gap: no report covers 2026-12-02T00:00:00Z to 2026-12-03T00:00:00Z (between 2026-12-01 and 2026-12-03)"}},
		{name: "a key rotation", days: []int{1, 2}, build: func(t *testing.T, parent string) {
			scheduled(t, url, parent, 3, b.private)
			scheduled(t, url, parent, 4, b.private)
		}, verify: []string{"--public-key", a.public, "--public-key", b.public, "PARENT"},
			want: []string{"4 reports, each verifies and follows the one before it with no gap"}},
		{name: "a key rotation, the old key not given", days: []int{1, 2}, build: func(t *testing.T, parent string) {
			scheduled(t, url, parent, 3, b.private)
		}, verify: []string{"--public-key", b.public, "PARENT"}, code: 1,
			want: []string{"2026-12-01: manifest.json.sig: signed with another key: the manifest names key SHA-256 " + a.fingerprint,
				"2026-12-02: manifest.json.sig: signed with another key"}},
		{name: "reports given in order", days: []int{1, 2, 3}, verify: []string{"--public-key", a.public, "PARENT/2026-12-01", "PARENT/2026-12-02", "PARENT/2026-12-03"},
			want: []string{"3 reports, each verifies and follows the one before it with no gap"}},
		{name: "reports given, one left out", days: []int{1, 2, 3}, verify: []string{"PARENT/2026-12-01", "PARENT/2026-12-03"}, code: 1,
			want: []string{"missing link: 2026-12-03 records previous report 2026-12-02"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			var runs strings.Builder
			for _, d := range tc.days {
				runs.WriteString(scheduled(t, url, parent, d, a.private))
			}
			if tc.runWarn != "" && !strings.Contains(runs.String(), tc.runWarn) {
				t.Errorf("the runs' stderr %q; want %q", runs.String(), tc.runWarn)
			}
			if tc.build != nil {
				tc.build(t, parent)
			}
			var args []string
			for _, a := range tc.verify {
				args = append(args, strings.Replace(a, "PARENT", parent, 1))
			}
			code, stdout, stderr := runVerifyArgs(append([]string{"--chain"}, args...)...)
			out := stdout
			if tc.code != 0 {
				out = stderr
			}
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("want %q (in this order) in:\n%s", w, out)
					break
				}
				rest = rest[i+len(w):]
			}
			if code != tc.code {
				t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
		})
	}
}

// A scheduled run links to the latest earlier report of its cadence, not to
// another cadence's, nor a later one; the manifest records it.
func TestScheduledRunLinks(t *testing.T) {
	url := anyPeriodStore(t)
	parent := t.TempDir()
	scheduled(t, url, parent, 1, "")
	scheduled(t, url, parent, 5, "") // a later report, made first
	os.MkdirAll(filepath.Join(parent, "2026-11"), 0o755)
	os.MkdirAll(filepath.Join(parent, "notes"), 0o755)
	scheduled(t, url, parent, 3, "")
	raw, _ := os.ReadFile(filepath.Join(parent, "2026-12-03", "manifest.json"))
	prevRaw, _ := os.ReadFile(filepath.Join(parent, "2026-12-01", "manifest.json"))
	sum := sha256.Sum256(prevRaw)
	want := fmt.Sprintf(`"previous_report": {
    "name": "2026-12-01",
    "from": "2026-12-01T00:00:00Z",
    "to": "2026-12-02T00:00:00Z",
    "manifest_sha256": "%s"
  },
  "signature": null`, hex.EncodeToString(sum[:]))
	if !strings.Contains(string(raw), want) || !strings.Contains(string(raw), `"schema": "chrony-evidence/manifest/v2"`) {
		t.Errorf("manifest:\n%s\nwant\n%s", raw, want)
	}
	first, _ := os.ReadFile(filepath.Join(parent, "2026-12-01", "manifest.json"))
	if !strings.Contains(string(first), `"previous_report": null`) {
		t.Errorf("the first report's manifest:\n%s", first)
	}
	// --chain-previous is for --from/--to runs.
	code, _, stderr := runAt(t, day(8), "--prometheus", url, "--profile", "voice", "--previous", "day", "--out", parent, "--chain-previous", filepath.Join(parent, "2026-12-01"))
	if code != 2 || !strings.Contains(stderr, "give --chain-previous only with --from/--to") {
		t.Errorf("--previous with --chain-previous: exit %d, %q", code, stderr)
	}
	// ... and names a report.
	var so, se bytes.Buffer
	code = run(context.Background(), []string{"--prometheus", url, "--profile", "voice", "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T00:00:00Z",
		"--out", filepath.Join(t.TempDir(), "r"), "--chain-previous", parent}, &so, &se)
	if code != 2 || !strings.Contains(se.String(), "--chain-previous: "+parent+" holds no manifest.json") {
		t.Errorf("--chain-previous of a directory without a report: exit %d, %q", code, se.String())
	}
}

// A key made by OpenSSL signs, and OpenSSL checks the signature and agrees
// on the key's fingerprint.
func TestOpenSSLKey(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "key.pem"), filepath.Join(dir, "public.pem")
	for _, args := range [][]string{{"genpkey", "-algorithm", "ed25519", "-out", key}, {"pkey", "-in", key, "-pubout", "-out", pub}} {
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", args, err, out)
		}
	}
	r := runAgainst(t, anyPeriodStore(t), "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T00:00:00Z", "--step", "1h", "--inventory", "none", "--signing-key", key)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	der, err := exec.Command(openssl, "pkey", "-pubin", "-in", pub, "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	fingerprint := hex.EncodeToString(sum[:])
	if code, stdout, stderr := runVerifyArgs("--public-key", pub, r.dir); code != 0 || !strings.Contains(stdout, "the signature by key SHA-256 "+fingerprint+" is good") {
		t.Errorf("verify: exit %d, %s%s", code, stdout, stderr)
	}
	if !strings.Contains(r.stdout, "signed by key SHA-256 "+fingerprint+" (manifest.json.sig)") {
		t.Errorf("the run's stdout %q names no key %s", r.stdout, fingerprint)
	}
	out, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
		"-in", filepath.Join(r.dir, "manifest.json"), "-sigfile", filepath.Join(r.dir, "manifest.json.sig")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Errorf("openssl pkeyutl -verify: %v\n%s", err, out)
	}
	// Ed25519 is deterministic: OpenSSL's signature of the manifest with
	// the same key is the same 64 bytes.
	theirs, err := exec.Command(openssl, "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", filepath.Join(r.dir, "manifest.json")).Output()
	ours, _ := os.ReadFile(filepath.Join(r.dir, "manifest.json.sig"))
	if err != nil || !bytes.Equal(theirs, ours) {
		t.Errorf("openssl pkeyutl -sign: %v; %x, the report holds %x", err, theirs, ours)
	}
}
