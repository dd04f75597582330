package promapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A fake Entra ID token endpoint that answers as the v2.0 endpoint does and
// checks the client-credentials grant with a federated assertion.
func fakeEntra(t *testing.T, wantAssertion string) (*httptest.Server, *atomic.Int32) {
	var exchanges atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tenant-1/oauth2/v2.0/token" || r.ParseForm() != nil {
			http.NotFound(w, r)
			return
		}
		exchanges.Add(1)
		f := r.PostForm
		if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != "client-1" || f.Get("scope") != AzureMonitorScope ||
			f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.Get("client_assertion") != wantAssertion {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found"}`))
			return
		}
		w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"access-1"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &exchanges
}

func TestAzureWorkloadIdentity(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	os.WriteFile(tokenFile, []byte("projected-sa-token\n"), 0o600)
	entra, exchanges := fakeEntra(t, "projected-sa-token")
	env := map[string]string{"AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "client-1", "AZURE_FEDERATED_TOKEN_FILE": tokenFile, "AZURE_AUTHORITY_HOST": entra.URL + "/"}
	wi, err := NewAzureWorkloadIdentity(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	defer prom.Close()
	c, err := New(prom.URL, Options{TokenSource: wi.Token})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := c.Query(context.Background(), "up", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(seen, ",") != "Bearer access-1,Bearer access-1,Bearer access-1" || exchanges.Load() != 1 {
		t.Errorf("authorization headers %q after %d exchanges; want the access token each time from one exchange", seen, exchanges.Load())
	}

	// A federated credential that does not match: the error says so.
	os.WriteFile(tokenFile, []byte("another-token"), 0o600)
	wi2, _ := NewAzureWorkloadIdentity(func(k string) string { return env[k] })
	_, err = wi2.Token(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "AADSTS700213") || !strings.Contains(err.Error(), "federated credential") {
		t.Errorf("refused exchange: %v", err)
	}

	if _, err := NewAzureWorkloadIdentity(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID") {
		t.Errorf("missing settings: %v", err)
	}
}
