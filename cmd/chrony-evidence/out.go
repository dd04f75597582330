package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/chronyotel/otelcol-chrony/internal/evidence/blobstore"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/promapi"
	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
)

// What the tests add to the Azure clients: a transport that trusts a fake
// Entra ID's and an emulator's certificates, and no instance discovery,
// which would ask the real Entra ID about the fake authority. The zero
// values are right for AKS.
var (
	identityOptions azidentity.WorkloadIdentityCredentialOptions
	storageOptions  azcore.ClientOptions
)

// accountKeyEnv is the storage emulator's account key, for tests against
// Azurite: honoured only for an emulator's URL on an IP address, never for
// an Azure storage account, where the tool signs in with workload identity.
const accountKeyEnv = "AZURE_STORAGE_ACCOUNT_KEY"

// identity is the workload identity, made once: one credential serves the
// query API and storage, each with its own scope.
func (o *reportOptions) identity(getenv func(string) string) (*promapi.AzureWorkloadIdentity, error) {
	if o.wi == nil {
		wi, err := promapi.NewAzureWorkloadIdentity(getenv, identityOptions)
		if err != nil {
			return nil, err
		}
		o.wi = wi
	}
	return o.wi, nil
}

// destination is where the report goes: a local directory, or for a URL a
// prefix in a Blob Storage container, reached with workload identity (or
// the emulator's account key).
func (o *reportOptions) destination(ctx context.Context, out string, getenv func(string) string) (report.Destination, error) {
	if !blobstore.IsURL(out) {
		return report.Dir(out), nil
	}
	return openBlob(ctx, out, getenv, o.identity)
}

// shelf is where the reports are kept side by side, parent: a local
// directory, or a container URL whose prefix may be empty.
func (o *reportOptions) shelf(ctx context.Context, parent string, getenv func(string) string) (report.Shelf, error) {
	if !blobstore.IsURL(parent) {
		return report.DirShelf(parent), nil
	}
	return openShelf(ctx, parent, getenv, o.identity)
}

type identityFunc func(func(string) string) (*promapi.AzureWorkloadIdentity, error)

// openBlob opens the report at a container URL.
func openBlob(ctx context.Context, rawURL string, getenv func(string) string, identity identityFunc) (*blobstore.Report, error) {
	loc, err := blobstore.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	auth, err := storageAuth(loc, getenv, identity)
	if err != nil {
		return nil, err
	}
	return blobstore.New(ctx, loc, auth, storageOptions)
}

// openShelf opens the reports kept under a container URL.
func openShelf(ctx context.Context, rawURL string, getenv func(string) string, identity identityFunc) (*blobstore.Shelf, error) {
	loc, err := blobstore.ParseShelfURL(rawURL)
	if err != nil {
		return nil, err
	}
	auth, err := storageAuth(loc, getenv, identity)
	if err != nil {
		return nil, err
	}
	return blobstore.NewShelf(ctx, loc, auth, storageOptions)
}

// storageAuth is the emulator's account key when it is set, else workload
// identity.
func storageAuth(loc blobstore.Location, getenv func(string) string, identity identityFunc) (blobstore.Auth, error) {
	if key := getenv(accountKeyEnv); key != "" {
		return blobstore.Auth{AccountKey: key}, nil
	}
	wi, err := identity(getenv)
	if err != nil {
		return blobstore.Auth{}, fmt.Errorf("%s: storage is reached with workload identity: %w", loc, err)
	}
	return blobstore.Auth{Credential: wi.Credential()}, nil
}

// prepare is what a run into a container does before it collects: it
// refuses a prefix that holds a finished report, and finds a report an
// earlier run began, which this one completes.
// It returns the run's id: a new one, or the earlier run's, which the
// pages carry; and when this run completes another's report, that run's
// attempt, with what it found beside the report.
func prepare(dst report.Destination, job reportJob, client *promapi.Client) (runID string, resumed *blobstore.Attempt, err error) {
	b, ok := dst.(*blobstore.Report)
	if !ok {
		return newRunID(), nil, nil
	}
	p, c := job.collect.Period, job.collect
	inventory := "none"
	if c.Inventory {
		inventory = "auto"
	}
	a, err := b.Prepare(blobstore.Attempt{
		RunID: newRunID(), Version: version(), DataSource: client.Redacted(), UTCWindowSeconds: c.UTCWindow.Seconds(), SyncLog: job.syncLog,
		From: p.From.UTC().Format(time.RFC3339), To: p.To().UTC().Format(time.RFC3339), StepSeconds: p.Step.Seconds(),
		ToleranceSeconds: c.Tolerance, Profile: c.Profile, Cluster: c.Cluster, Inventory: inventory, AcceptPartial: c.AcceptPartial,
	})
	if err != nil || !b.Resumed() {
		return a.RunID, nil, err
	}
	return a.RunID, &a, nil
}

// generated is the report's generation time: now, or that of the earlier
// run whose report this one completes, so that the files it left are
// rendered again byte for byte.
func generated(dst report.Destination, now time.Time) time.Time {
	if b, ok := dst.(*blobstore.Report); ok {
		return b.Generated(now)
	}
	return now
}

// stored says what a run into a container did with each file.
func stored(dst report.Destination, stdout io.Writer) {
	b, ok := dst.(*blobstore.Report)
	if !ok || !b.Resumed() {
		return
	}
	fmt.Fprintf(stdout, "chrony-evidence: %s: completed the report begun at %s: uploaded %s; already there with the same bytes: %s\n",
		b, b.Generated(time.Time{}).Format(time.RFC3339), list(b.Uploaded), list(b.Kept))
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// fetchReport copies the report at a container URL into a temporary
// directory for report.Verify, with the problems of the blobs it did not
// copy; remove the directory when done.
func fetchReport(ctx context.Context, rawURL string, getenv func(string) string) (dir string, problems []string, err error) {
	var o reportOptions
	b, err := openBlob(ctx, rawURL, getenv, o.identity)
	if err != nil {
		return "", nil, err
	}
	dir, err = os.MkdirTemp("", "chrony-evidence-verify-")
	if err != nil {
		return "", nil, err
	}
	problems, err = b.Download(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, problems, nil
}
