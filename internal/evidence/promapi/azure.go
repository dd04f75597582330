package promapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// AzureMonitorScope is the Entra ID scope of an Azure Monitor workspace's
// Prometheus query API; the identity needs the Monitoring Data Reader role
// on the workspace.
const AzureMonitorScope = "https://prometheus.monitor.azure.com/.default"

// AzureWorkloadIdentity is AKS workload identity: azidentity's
// WorkloadIdentityCredential exchanges the service-account token that the
// webhook projects into the pod for Entra ID access tokens, re-reads the
// projected file as the kubelet rotates it, and caches the access tokens
// until shortly before they expire.
type AzureWorkloadIdentity struct {
	cred     azcore.TokenCredential
	clientID string
}

// NewAzureWorkloadIdentity reads the settings the webhook injects through
// getenv, and hands them to azidentity explicitly, so that nothing is read
// from the process environment behind the caller's back. options carry
// what a caller adds (a transport; tests point the credential at a fake
// Entra ID with it); the zero value is right for AKS.
func NewAzureWorkloadIdentity(getenv func(string) string, options azidentity.WorkloadIdentityCredentialOptions) (*AzureWorkloadIdentity, error) {
	settings := map[string]string{}
	var missing []string
	for _, name := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"} {
		if settings[name] = getenv(name); settings[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s not set: label the pod azure.workload.identity/use=true and annotate its service account with azure.workload.identity/client-id", strings.Join(missing, ", "))
	}
	options.TenantID = settings["AZURE_TENANT_ID"]
	options.ClientID = settings["AZURE_CLIENT_ID"]
	options.TokenFilePath = settings["AZURE_FEDERATED_TOKEN_FILE"]
	if options.Cloud.ActiveDirectoryAuthorityHost == "" {
		options.Cloud = cloud.AzurePublic
		if host := getenv("AZURE_AUTHORITY_HOST"); host != "" {
			options.Cloud.ActiveDirectoryAuthorityHost = host
		}
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(&options)
	if err != nil {
		return nil, fmt.Errorf("workload identity: %w", err)
	}
	return &AzureWorkloadIdentity{cred: cred, clientID: options.ClientID}, nil
}

// Credential is the workload identity for other Azure SDK clients, so that
// one credential serves every Azure service the tool talks to: the Blob
// client asks it for tokens of its own scope (https://storage.azure.com),
// which it caches beside the query API's.
func (a *AzureWorkloadIdentity) Credential() azcore.TokenCredential { return a.cred }

// Token returns a valid access token for the Azure Monitor query API.
func (a *AzureWorkloadIdentity) Token(ctx context.Context) (string, error) {
	tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{AzureMonitorScope}})
	if err == nil {
		return tok.Token, nil
	}
	var refused *azidentity.AuthenticationFailedError
	if errors.As(err, &refused) && refused.RawResponse != nil {
		return "", fmt.Errorf("%w: Entra ID refused the workload identity token exchange for client %s (check the federated credential's issuer and subject): %w",
			ErrUnauthorized, a.clientID, err)
	}
	return "", fmt.Errorf("no Entra ID token for workload identity client %s (reading the projected token, and egress to the authority host, are needed): %w", a.clientID, err)
}
