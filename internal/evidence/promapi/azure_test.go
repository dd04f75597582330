package promapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// A fake Entra ID on loopback that answers as the v2.0 endpoints do: the
// tenant's OpenID configuration, and a token endpoint that checks the
// client-credentials grant with a federated assertion (MSAL adds openid,
// offline_access and profile to the scope). azidentity insists
// on an https authority, hence TLS.
func fakeEntra(t *testing.T, wantAssertion string) (*httptest.Server, *atomic.Int32) {
	var exchanges atomic.Int32
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
		if r.ParseForm() != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		exchanges.Add(1)
		f := r.PostForm
		if f.Get("grant_type") != "client_credentials" || f.Get("client_id") != "client-1" || !slices.Contains(strings.Fields(f.Get("scope")), AzureMonitorScope) ||
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

// toFake is what a test adds to the credential's options: trust in the
// fake's certificate, and no instance discovery, which would ask the real
// Entra ID about the fake authority.
func toFake(entra *httptest.Server) azidentity.WorkloadIdentityCredentialOptions {
	var o azidentity.WorkloadIdentityCredentialOptions
	o.Transport = entra.Client()
	o.DisableInstanceDiscovery = true
	return o
}

func TestAzureWorkloadIdentity(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	os.WriteFile(tokenFile, []byte("projected-sa-token"), 0o600)
	entra, exchanges := fakeEntra(t, "projected-sa-token")
	env := map[string]string{"AZURE_TENANT_ID": "tenant-1", "AZURE_CLIENT_ID": "client-1", "AZURE_FEDERATED_TOKEN_FILE": tokenFile, "AZURE_AUTHORITY_HOST": entra.URL + "/"}
	wi, err := NewAzureWorkloadIdentity(func(k string) string { return env[k] }, toFake(entra))
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

	// A federated credential that does not match: the error says so, and
	// the query API is not asked.
	os.WriteFile(tokenFile, []byte("another-token"), 0o600)
	wi2, err := NewAzureWorkloadIdentity(func(k string) string { return env[k] }, toFake(entra))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wi2.Token(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "AADSTS700213") || !strings.Contains(err.Error(), "federated credential") {
		t.Errorf("refused exchange: %v", err)
	}
	c2, _ := New(prom.URL, Options{TokenSource: wi2.Token})
	if _, _, err := c2.Query(context.Background(), "up", time.Now()); !errors.Is(err, ErrUnauthorized) || len(seen) != 3 {
		t.Errorf("a query without a token: %v, after %d requests to the query API; want ErrUnauthorized and none", err, len(seen)-3)
	}

	if _, err := NewAzureWorkloadIdentity(func(string) string { return "" }, toFake(entra)); err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID") {
		t.Errorf("missing settings: %v", err)
	}
}
