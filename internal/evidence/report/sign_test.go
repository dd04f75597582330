package report

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronyotel/otelcol-chrony/internal/evidence"
)

// testResult is a day of two nodes within tolerance at 1 h steps.
func testResult(from time.Time) *evidence.Result {
	p := evidence.Period{From: from, Step: time.Hour, Steps: 24}
	l := evidence.NewLedger(p, 0.001)
	for _, name := range []string{"n1", "n2"} {
		n := l.Add(name, "c1", []evidence.Span{{Start: 0, End: p.Steps}}, true)
		for k := 0; k < p.Steps; k++ {
			l.Account(n, k, evidence.Reading{HaveUp: true, MinUp: 1, HaveErr: true, MaxErr: 1e-5 * float64(k%7+1)})
		}
	}
	l.Finish()
	return &evidence.Result{Ledger: l, Inventory: "test"}
}

func writePEMFile(t *testing.T, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The keys a run or verify cannot use are named for what they are.
func TestLoadKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xDER, _ := x509.MarshalPKCS8PrivateKey(x)
	xPubDER, _ := x509.MarshalPKIXPublicKey(x.PublicKey())
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)

	for _, tc := range []struct {
		name, kind string
		der        []byte
		public     bool   // load with LoadPublicKey
		want       string // "" for a key that loads
	}{
		{"an Ed25519 private key", "PRIVATE KEY", privDER, false, ""},
		{"an Ed25519 public key", "PUBLIC KEY", pubDER, true, ""},
		{"an X25519 key", "PRIVATE KEY", xDER, false, "an X25519 (ECDH) key, for key agreement, not an Ed25519 signing key"},
		{"an encrypted key", "ENCRYPTED PRIVATE KEY", []byte("x"), false, "holds an encrypted private key"},
		{"PKCS#8 that is not", "PRIVATE KEY", []byte("x"), false, "not a PKCS#8 private key"},
		{"a certificate", "CERTIFICATE", []byte("x"), false, `holds PEM "CERTIFICATE"`},
		{"a private key for verify", "PRIVATE KEY", privDER, true, "verify needs only the public key"},
		{"an RSA public key", "PUBLIC KEY", rsaPubDER, true, "an RSA key (2048 bits), not Ed25519"},
		{"an X25519 public key", "PUBLIC KEY", xPubDER, true, "an X25519 (ECDH) key"},
		{"a certificate for verify", "CERTIFICATE", []byte("x"), true, `holds PEM "CERTIFICATE"; want an Ed25519 public key, PEM "PUBLIC KEY"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writePEMFile(t, tc.kind, tc.der)
			var err error
			if tc.public {
				var k ed25519.PublicKey
				k, err = LoadPublicKey(path)
				if err == nil && !k.Equal(pub) {
					t.Error("another key loaded")
				}
			} else {
				var k ed25519.PrivateKey
				k, err = LoadSigningKey(path)
				if err == nil && !k.Equal(priv) {
					t.Error("another key loaded")
				}
			}
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v; want %q", err, tc.want)
			}
		})
	}
}

// The same report, key and previous report give the same bytes in every
// file, the PDF and the signature included.
func TestWriteIsReproducible(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	run := Run{Version: "test", DataSource: "http://store", Generated: from.Add(25 * time.Hour), SigningKey: priv,
		Previous: &PreviousReport{Name: "2026-11-30", From: "2026-11-30T00:00:00Z", To: "2026-12-01T00:00:00Z", ManifestSHA256: strings.Repeat("ab", 32)}}
	var dirs []string
	for range 3 {
		dir := filepath.Join(t.TempDir(), "r")
		if _, err := Write(Dir(dir), testResult(from), Meta{Profile: "voice"}, run); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	for _, name := range append(append([]string{}, reportFiles...), ManifestName, SignatureName) {
		first, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range dirs[1:] {
			if other, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(first, other) {
				t.Errorf("%s differs between two writes of the same report", name)
			}
		}
	}
	c, err := VerifyReport(dirs[0], []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)})
	if err != nil || len(c.Problems) > 0 || !strings.Contains(c.Signature, "is good") {
		t.Errorf("verify: %v %q %q", err, c.Problems, c.Signature)
	}
}

// A scheduled run follows the latest earlier report of its layout that
// holds a manifest, whatever else the directory holds.
func TestFindPrevious(t *testing.T) {
	parent := t.TempDir()
	mk := func(name string, from time.Time) {
		if _, err := Write(Dir(filepath.Join(parent, name)), testResult(from), Meta{}, Run{Generated: from}); err != nil {
			t.Fatal(err)
		}
	}
	mk("2026-11-30", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	mk("2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	mk("2026-12-05", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)) // later: not followed
	mk("2026-11", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))    // a month: another chain
	os.MkdirAll(filepath.Join(parent, "2026-12-02"), 0o755)        // a failed run: no manifest
	os.MkdirAll(filepath.Join(parent, "2026-12-1"), 0o755)         // not a date of the layout
	os.MkdirAll(filepath.Join(parent, "2026-13-01"), 0o755)        // not a date
	os.WriteFile(filepath.Join(parent, "2026-12-03"), nil, 0o644)  // not a directory

	prev, warnings, err := FindPrevious(DirShelf(parent), "2026-12-04", evidence.Daily)
	if err != nil {
		t.Fatal(err)
	}
	if prev == nil || prev.Name != "2026-12-01" || prev.From != "2026-12-01T00:00:00Z" || prev.To != "2026-12-02T00:00:00Z" || len(prev.ManifestSHA256) != 64 {
		t.Errorf("previous %+v; want 2026-12-01", prev)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "2026-12-02 holds no manifest.json, so it is not a report") {
		t.Errorf("warnings %q", warnings)
	}
	if prev, _, _ := FindPrevious(DirShelf(parent), "2026-11-30", evidence.Daily); prev != nil {
		t.Errorf("the first report follows %+v", prev)
	}
	if prev, _, _ := FindPrevious(DirShelf(parent), "2026-12", evidence.Monthly); prev == nil || prev.Name != "2026-11" {
		t.Errorf("the month follows %+v", prev)
	}
	if prev, _, err := FindPrevious(DirShelf(filepath.Join(parent, "absent")), "2026-12-04", evidence.Daily); prev != nil || err != nil {
		t.Errorf("an output directory not made yet: %+v, %v", prev, err)
	}

	// A manifest that is a link is passed over, and one altered since is
	// linked to as it is, with a warning.
	os.Rename(filepath.Join(parent, "2026-12-01", ManifestName), filepath.Join(parent, "elsewhere.json"))
	os.Symlink(filepath.Join(parent, "elsewhere.json"), filepath.Join(parent, "2026-12-01", ManifestName))
	prev, warnings, _ = FindPrevious(DirShelf(parent), "2026-12-04", evidence.Daily)
	if prev == nil || prev.Name != "2026-11-30" || len(warnings) != 2 || warnings[1] != filepath.Join(parent, "2026-12-01", ManifestName)+": a symbolic link; refused, not read (not a report): passed over for the chain" {
		t.Errorf("previous %+v, warnings %q", prev, warnings)
	}
	os.WriteFile(filepath.Join(parent, "2026-11-30", "nodes.csv"), []byte("altered"), 0o644)
	prev, warnings, _ = FindPrevious(DirShelf(parent), "2026-12-01", evidence.Daily)
	if prev == nil || prev.Name != "2026-11-30" || len(warnings) != 1 || !strings.Contains(warnings[0], "the previous report "+filepath.Join(parent, "2026-11-30")+" does not verify: nodes.csv: SHA-256") {
		t.Errorf("previous %+v, warnings %q", prev, warnings)
	}
}
