package blobstore

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		raw                               string
		container, account, prefix, where string
		emulator                          bool
		err                               string
	}{
		{raw: "https://acct.blob.core.windows.net/evidence/aks-prod/2026-11-03", container: "https://acct.blob.core.windows.net/evidence", account: "acct", prefix: "aks-prod/2026-11-03"},
		{raw: "https://acct.blob.core.windows.net/evidence/aks-prod/", container: "https://acct.blob.core.windows.net/evidence", account: "acct", prefix: "aks-prod"},
		{raw: "http://127.0.0.1:10000/devstoreaccount1/evidence/p", container: "http://127.0.0.1:10000/devstoreaccount1/evidence", account: "devstoreaccount1", prefix: "p", emulator: true},
		{raw: "https://[::1]:10000/devstoreaccount1/evidence/p", container: "https://[::1]:10000/devstoreaccount1/evidence", account: "devstoreaccount1", prefix: "p", emulator: true},
		{raw: "https://acct.blob.core.windows.net/evidence", err: "name a prefix"},
		{raw: "https://acct.blob.core.windows.net/", err: "no valid container name"},
		{raw: "https://acct.blob.core.windows.net/ev/p", err: "no valid container name"},
		{raw: "https://acct.blob.core.windows.net/ev--idence/p", err: "no valid container name"},
		{raw: "https://acct.blob.core.windows.net/evidence/a//b", err: "empty"},
		{raw: "https://acct.blob.core.windows.net/evidence/./b", err: "'.'"},
		{raw: "https://acct.blob.core.windows.net/evidence/p?sig=secret", err: "without a query"},
		{raw: "https://user:pw@acct.blob.core.windows.net/evidence/p", err: "not a container URL"},
		{raw: "http://acct.blob.core.windows.net/evidence/p", err: "https only"},
		{raw: "ftp://acct.blob.core.windows.net/evidence/p", err: "not a container URL"},
		{raw: "http://127.0.0.1:10000/", err: "names the account first"},
	} {
		loc, err := ParseURL(c.raw)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: %v, want an error with %q", c.raw, err, c.err)
			}
			continue
		}
		if err != nil || loc.ContainerURL != c.container || loc.Account != c.account || loc.Prefix != c.prefix || loc.Emulator != c.emulator {
			t.Errorf("%s: %+v, %v", c.raw, loc, err)
		}
	}
	if got := Join("https://acct.blob.core.windows.net/evidence/aks-prod/", "2026-11"); got != "https://acct.blob.core.windows.net/evidence/aks-prod/2026-11" {
		t.Errorf("Join: %s", got)
	}
}

// A shelf's URL may name the container alone; a report's URL splits into
// its shelf and its name.
func TestShelfURL(t *testing.T) {
	loc, err := ParseShelfURL("https://acct.blob.core.windows.net/evidence")
	if err != nil || loc.Prefix != "" || loc.String() != "https://acct.blob.core.windows.net/evidence" || loc.blobName("2026-12-04") != "2026-12-04" {
		t.Errorf("the container alone: %+v, %v", loc, err)
	}
	if got := loc.under("2026-12-04").String(); got != "https://acct.blob.core.windows.net/evidence/2026-12-04" {
		t.Errorf("under: %s", got)
	}
	loc, err = ParseShelfURL("https://acct.blob.core.windows.net/evidence/aks-prod/")
	if err != nil || loc.Prefix != "aks-prod" || loc.under("2026-W49").blobName("manifest.json") != "aks-prod/2026-W49/manifest.json" {
		t.Errorf("a prefix: %+v, %v", loc, err)
	}
	if _, err := ParseShelfURL("https://acct.blob.core.windows.net/"); err == nil {
		t.Error("no container: no error")
	}
	for raw, want := range map[string][2]string{
		"https://acct.blob.core.windows.net/evidence/aks-prod/2026-12-04":  {"https://acct.blob.core.windows.net/evidence/aks-prod", "2026-12-04"},
		"https://acct.blob.core.windows.net/evidence/aks-prod/2026-12-04/": {"https://acct.blob.core.windows.net/evidence/aks-prod", "2026-12-04"},
		"http://127.0.0.1:10000/devstoreaccount1/evidence/r":               {"http://127.0.0.1:10000/devstoreaccount1/evidence", "r"},
	} {
		if shelf, name, err := Split(raw); shelf != want[0] || name != want[1] || err != nil {
			t.Errorf("Split(%s) = %s, %s, %v", raw, shelf, name, err)
		}
	}
	if _, _, err := Split("https://acct.blob.core.windows.net/evidence"); err == nil || !strings.Contains(err.Error(), "name a prefix") {
		t.Errorf("Split of a container alone: %v", err)
	}
}
