package promapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// AzureMonitorScope is the Entra ID scope of an Azure Monitor workspace's
// Prometheus query API; the identity needs the Monitoring Data Reader role
// on the workspace.
const AzureMonitorScope = "https://prometheus.monitor.azure.com/.default"

// AzureWorkloadIdentity exchanges the service-account token that AKS's
// workload identity webhook projects into the pod (AZURE_FEDERATED_TOKEN_FILE)
// for an Entra ID access token, as a client-credentials grant with the
// projected token as client assertion. Tokens are reused until five minutes
// before they expire; the projected file is re-read for each exchange,
// since the kubelet rotates it.
type AzureWorkloadIdentity struct {
	tenantID, clientID, tokenFile, authority string
	http                                     *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewAzureWorkloadIdentity reads the settings the webhook injects.
func NewAzureWorkloadIdentity(getenv func(string) string) (*AzureWorkloadIdentity, error) {
	a := &AzureWorkloadIdentity{
		tenantID: getenv("AZURE_TENANT_ID"), clientID: getenv("AZURE_CLIENT_ID"), tokenFile: getenv("AZURE_FEDERATED_TOKEN_FILE"),
		authority: getenv("AZURE_AUTHORITY_HOST"), http: &http.Client{Timeout: 30 * time.Second},
	}
	var missing []string
	for name, v := range map[string]string{"AZURE_TENANT_ID": a.tenantID, "AZURE_CLIENT_ID": a.clientID, "AZURE_FEDERATED_TOKEN_FILE": a.tokenFile} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("--azure-workload-identity: %s not set: label the pod azure.workload.identity/use=true and annotate its service account with azure.workload.identity/client-id", strings.Join(missing, ", "))
	}
	if a.authority == "" {
		a.authority = "https://login.microsoftonline.com/"
	}
	return a, nil
}

// Token returns a valid access token.
func (a *AzureWorkloadIdentity) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && time.Now().Before(a.expires) {
		return a.token, nil
	}
	assertion, err := os.ReadFile(a.tokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the projected service-account token: %w", err)
	}
	endpoint := strings.TrimSuffix(a.authority, "/") + "/" + url.PathEscape(a.tenantID) + "/oauth2/v2.0/token"
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {a.clientID},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {strings.TrimSpace(string(assertion))},
		"scope":                 {AzureMonitorScope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach Entra ID at %s (egress to it is needed): %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		detail := tok.Error + ": " + tok.Description
		if tok.Error == "" {
			detail = strings.TrimSpace(string(body))
		}
		return "", fmt.Errorf("%w: Entra ID refused the workload identity token exchange for client %s (%s): %s (check the federated credential's issuer and subject)",
			ErrUnauthorized, a.clientID, resp.Status, detail)
	}
	if tok.ExpiresIn <= 0 {
		return "", errors.New("the Entra ID token answer has no expires_in")
	}
	a.token = tok.AccessToken
	a.expires = time.Now().Add(time.Duration(tok.ExpiresIn)*time.Second - 5*time.Minute)
	return a.token, nil
}
