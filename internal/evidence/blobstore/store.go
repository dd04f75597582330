package blobstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/chronyotel/otelcol-chrony/internal/evidence/report"
)

// StorageScope is the Entra ID scope of Azure Storage, which the Blob
// client asks the credential for; the identity needs a data role on the
// container (Storage Blob Data Contributor).
const StorageScope = "https://storage.azure.com/.default"

// MarkerName is the blob a run creates under the report's prefix before
// the report's files: its generation time and parameters (Attempt), so that
// a later run completing an unfinished report renders the same bytes. It is
// not a file of the report; verify ignores it.
const MarkerName = ".run.json"

// AttemptSchema names the version of the marker's layout.
const AttemptSchema = "chrony-evidence/run/v1"

// ErrUnauthorized marks storage, or Entra ID on its behalf, refusing the
// credentials: a refusal that other credentials or a role would fix.
var ErrUnauthorized = errors.New("unauthorized")

// ErrReportExists marks a location that already holds a finished report.
var ErrReportExists = errors.New("a report is already there")

// maxFileBytes bounds what is read of one blob: a report's files are a few
// megabytes for a thousand nodes.
const maxFileBytes = 256 << 20

// Auth is how the tool signs in to storage: a token credential (workload
// identity), or for the storage emulator only, its account key.
type Auth struct {
	Credential azcore.TokenCredential
	AccountKey string
}

// Attempt is what a run records in the marker: the report's parameters,
// which a run completing it must share, and the generation time it renders
// the report with.
type Attempt struct {
	Schema      string `json:"schema"`
	GeneratedAt string `json:"generated_at"`
	// RunID names the run on every page: a run completing the report
	// renders with the first run's.
	RunID            string  `json:"run_id"`
	Version          string  `json:"version"`
	DataSource       string  `json:"data_source"`
	From             string  `json:"from"`
	To               string  `json:"to"`
	StepSeconds      float64 `json:"step_seconds"`
	ToleranceSeconds float64 `json:"tolerance_seconds"`
	Profile          string  `json:"profile,omitempty"`
	Cluster          string  `json:"cluster,omitempty"`
	Inventory        string  `json:"inventory"`
	AcceptPartial    bool    `json:"accept_partial"`
	UTCWindowSeconds float64 `json:"utc_window_seconds"`
	SyncLog          bool    `json:"sync_log"`
	// What the first run found beside the report: the report it follows,
	// the previous period's report it was compared with, or why there was
	// no comparison. A run completing the report renders these, not what it
	// would find now, so that its files are the same bytes. A marker of a
	// version that did not record them stands for none.
	PreviousReport        *report.PreviousReport `json:"previous_report,omitempty"`
	PreviousPeriod        *report.Comparison     `json:"previous_period,omitempty"`
	PreviousPeriodWarning string                 `json:"previous_period_warning,omitempty"`
}

// Generated is the attempt's generation time.
func (a Attempt) Generated() time.Time {
	t, _ := time.Parse(time.RFC3339, a.GeneratedAt)
	return t
}

// differences lists the parameters in which b differs from a; the version
// and the generation time are no parameters of the report.
func (a Attempt) differences(b Attempt) []string {
	var out []string
	add := func(name string, x, y any) {
		if x != y {
			out = append(out, fmt.Sprintf("%s %s there, %s now", name, show(x), show(y)))
		}
	}
	add("data_source", a.DataSource, b.DataSource)
	add("from", a.From, b.From)
	add("to", a.To, b.To)
	add("step_seconds", a.StepSeconds, b.StepSeconds)
	add("tolerance_seconds", a.ToleranceSeconds, b.ToleranceSeconds)
	add("profile", a.Profile, b.Profile)
	add("cluster", a.Cluster, b.Cluster)
	add("inventory", a.Inventory, b.Inventory)
	add("accept_partial", a.AcceptPartial, b.AcceptPartial)
	add("utc_window_seconds", a.UTCWindowSeconds, b.UTCWindowSeconds)
	add("sync_log", a.SyncLog, b.SyncLog)
	return out
}

// Report is one report's location in a container, as a report.Destination.
type Report struct {
	ctx context.Context
	loc Location
	c   *container.Client
	// attempt is the one this run renders; marker its bytes when an
	// earlier run created it.
	attempt Attempt
	marker  []byte
	// Uploaded and Kept name the files this run created, and those an
	// earlier attempt had left with the same bytes.
	Uploaded, Kept []string
}

var _ report.Destination = (*Report)(nil)

// New returns the report at loc. ctx bounds every request it makes;
// options carry what a caller adds to the Blob client (a transport in
// tests). Nothing is sent until a method asks.
func New(ctx context.Context, loc Location, auth Auth, options azcore.ClientOptions) (*Report, error) {
	opts := &container.ClientOptions{ClientOptions: options}
	var c *container.Client
	var err error
	switch {
	case auth.AccountKey != "":
		if !loc.Emulator {
			return nil, fmt.Errorf("%s: AZURE_STORAGE_ACCOUNT_KEY is for the storage emulator (a URL on an IP address) only; on Azure the tool signs in with workload identity", loc)
		}
		cred, kerr := container.NewSharedKeyCredential(loc.Account, auth.AccountKey)
		if kerr != nil {
			return nil, fmt.Errorf("AZURE_STORAGE_ACCOUNT_KEY: %w", kerr)
		}
		c, err = container.NewClientWithSharedKeyCredential(loc.ContainerURL, cred, opts)
	case auth.Credential != nil:
		if strings.HasPrefix(loc.ContainerURL, "http://") {
			return nil, fmt.Errorf("%s: workload identity's tokens go over https only (http is for an emulator with AZURE_STORAGE_ACCOUNT_KEY)", loc)
		}
		c, err = container.NewClient(loc.ContainerURL, auth.Credential, opts)
	default:
		return nil, fmt.Errorf("%s: no credentials for storage", loc)
	}
	if err != nil {
		return nil, fmt.Errorf("the Blob client for %s: %w", loc.ContainerURL, err)
	}
	return &Report{ctx: ctx, loc: loc, c: c}, nil
}

// Prepare is called before the period is collected, with the run's
// parameters (a.GeneratedAt is ignored). It refuses a location that holds a
// finished report. When an earlier run began this report, it returns that
// run's attempt, whose generation time this run renders with, so that the
// files it left are made again byte for byte; one begun with other
// parameters is refused.
func (r *Report) Prepare(a Attempt) (Attempt, error) {
	a.Schema, a.GeneratedAt = AttemptSchema, ""
	if err := r.refuseFinished(); err != nil {
		return Attempt{}, err
	}
	raw, _, err := r.read(MarkerName)
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		r.attempt = a
		return a, nil
	case err != nil:
		return Attempt{}, r.explain("reading "+MarkerName, err)
	}
	var there Attempt
	if err := json.Unmarshal(raw, &there); err != nil || there.Schema != AttemptSchema || there.Generated().IsZero() {
		return Attempt{}, fmt.Errorf("%s is not a %s record (%v): this prefix holds something else; choose another --out", r.Where(MarkerName), AttemptSchema, err)
	}
	if diff := there.differences(a); len(diff) > 0 {
		return Attempt{}, fmt.Errorf("%s holds an unfinished report begun at %s with other parameters (%s): complete it with the same flags, or choose another --out",
			r.loc, there.GeneratedAt, strings.Join(diff, "; "))
	}
	a.GeneratedAt, a.RunID = there.GeneratedAt, there.RunID
	a.PreviousReport, a.PreviousPeriod, a.PreviousPeriodWarning = there.PreviousReport, there.PreviousPeriod, there.PreviousPeriodWarning
	r.attempt, r.marker = a, raw
	return a, nil
}

// Found records what this run, the first attempt, found beside the report,
// for the marker: a run completing the report renders the same.
func (r *Report) Found(previous *report.PreviousReport, period *report.Comparison, warning string) {
	r.attempt.PreviousReport, r.attempt.PreviousPeriod, r.attempt.PreviousPeriodWarning = previous, period, warning
}

// Resumed says whether an earlier run had begun this report.
func (r *Report) Resumed() bool { return r.marker != nil }

// Generated is the generation time to render the report with: the earlier
// run's when this run completes its report, else now, which the marker
// then records.
func (r *Report) Generated(now time.Time) time.Time {
	if r.attempt.GeneratedAt == "" {
		r.attempt.GeneratedAt = now.UTC().Format(time.RFC3339)
	}
	return r.attempt.Generated()
}

// Open checks again that no report is there, and creates the marker when
// this run is the first attempt.
func (r *Report) Open() error {
	if r.attempt.Schema == "" || r.attempt.GeneratedAt == "" {
		return errors.New("blobstore: Open before Prepare and Generated")
	}
	if err := r.refuseFinished(); err != nil {
		return err
	}
	if r.marker != nil {
		return nil
	}
	b, err := json.MarshalIndent(r.attempt, "", "  ")
	if err != nil {
		return err
	}
	if err := r.Create(MarkerName, append(b, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", r.Where(MarkerName), err)
	}
	return nil
}

// Create uploads data as name, in one request that the service refuses
// when the blob exists (If-None-Match: *). When it exists, its bytes are
// compared with data: the same bytes (left by an earlier attempt, or by a
// retried request whose answer was lost) are kept as they are; other bytes
// fail, naming the blob.
func (r *Report) Create(name string, data []byte) error {
	sum := md5.Sum(data)
	_, err := r.c.NewBlockBlobClient(r.loc.blobName(name)).Upload(r.ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{
		HTTPHeaders:             &blob.HTTPHeaders{BlobContentType: contentType(name)},
		TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
		AccessConditions:        &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to(azcore.ETagAny)}},
	})
	if err == nil {
		r.Uploaded = append(r.Uploaded, name)
		return nil
	}
	if !exists(err) {
		return r.explain("uploading", err)
	}
	refused := err
	there, _, err := r.read(name)
	if err != nil {
		return r.explain(fmt.Sprintf("reading the blob already there (the upload was refused: %v)", refused), err)
	}
	if !bytes.Equal(there, data) {
		return fmt.Errorf("already there with other content (SHA-256 %s, %d bytes; this run made %s, %d bytes): the store's data or the tool changed since the attempt of %s began this report. Nothing is deleted: the blobs stay without a manifest, which verify reports; write this period under another --out",
			sha(there), len(there), sha(data), len(data), r.attempt.GeneratedAt)
	}
	r.Kept = append(r.Kept, name)
	return nil
}

// Abandon deletes nothing: on write-once storage what was uploaded stays,
// and the next run completes it.
func (r *Report) Abandon() {}

// Where is the URL of one file of the report.
func (r *Report) Where(name string) string { return r.loc.String() + "/" + name }

// String is the report's URL.
func (r *Report) String() string { return r.loc.String() }

// refuseFinished fails when the manifest is there.
func (r *Report) refuseFinished() error {
	props, err := r.c.NewBlobClient(r.loc.blobName(report.ManifestName)).GetProperties(r.ctx, nil)
	switch {
	case err == nil:
		when := ""
		if props.LastModified != nil {
			when = ", written " + props.LastModified.UTC().Format(time.RFC3339)
		}
		return fmt.Errorf("%w: %s already holds a report (%s%s): a kept report is never overwritten; choose another --out", ErrReportExists, r.loc, report.ManifestName, when)
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		return nil
	case respStatus(err) == http.StatusNotFound && !bloberror.HasCode(err, bloberror.ContainerNotFound):
		// A HEAD request's answer has no body, and so no error code:
		// tell a missing container from a missing blob by asking.
		if _, cerr := r.c.GetProperties(r.ctx, nil); cerr != nil {
			return r.explain("reading the container's properties", cerr)
		}
		return nil
	}
	return r.explain("looking for "+report.ManifestName, err)
}

// read downloads one blob of the report, at most maxFileBytes.
func (r *Report) read(name string) ([]byte, azcore.ETag, error) {
	resp, err := r.c.NewBlobClient(r.loc.blobName(name)).DownloadStream(r.ctx, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.ContentLength != nil && *resp.ContentLength > maxFileBytes {
		return nil, "", fmt.Errorf("%s is %d bytes, more than a report's file can be; not read", r.Where(name), *resp.ContentLength)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFileBytes+1))
	if err == nil && len(b) > maxFileBytes {
		err = fmt.Errorf("%s is more than %d bytes; not read", r.Where(name), maxFileBytes)
	}
	var etag azcore.ETag
	if resp.ETag != nil {
		etag = *resp.ETag
	}
	return b, etag, err
}

// Download copies the report's blobs into dir, an empty directory, for
// report.Verify: every blob directly under the prefix but the marker. A
// blob further down the prefix is no file of a report: it is returned as
// a problem in verify's words, not copied.
func (r *Report) Download(dir string) (problems []string, err error) {
	prefix := r.loc.Prefix + "/"
	pager := r.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(r.ctx)
		if err != nil {
			return nil, r.explain("listing "+prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil {
				continue
			}
			rel := strings.TrimPrefix(*item.Name, prefix)
			if rel == MarkerName {
				continue
			}
			if strings.Contains(rel, "/") || !filepath.IsLocal(rel) || path.Clean(rel) != rel {
				problems = append(problems, fmt.Sprintf("%s: not in the manifest", rel))
				continue
			}
			data, _, err := r.read(rel)
			if err != nil {
				return nil, r.explain("reading "+rel, err)
			}
			if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	return problems, nil
}

// explain says what a failed request means and what to check, with
// refused credentials marked ErrUnauthorized.
func (r *Report) explain(doing string, err error) error {
	var refused *azidentity.AuthenticationFailedError
	if errors.As(err, &refused) && refused.RawResponse != nil {
		return fmt.Errorf("%w: %s %s: Entra ID refused the workload identity token exchange for storage (check the federated credential's issuer and subject): %w", ErrUnauthorized, doing, r.loc, err)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("%w: %s %s: storage answered %d %s (give the identity Storage Blob Data Contributor on the container)", ErrUnauthorized, doing, r.loc, re.StatusCode, re.ErrorCode)
		case re.ErrorCode == string(bloberror.ContainerNotFound):
			return fmt.Errorf("%s %s: the container %s does not exist: create it, with its immutability policy, before the first run", doing, r.loc, r.loc.ContainerURL)
		}
		return fmt.Errorf("%s %s: storage answered %d %s", doing, r.loc, re.StatusCode, re.ErrorCode)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", doing, r.loc, err)
	}
	return fmt.Errorf("%s %s (check the URL and the network path to it): %w", doing, r.loc, err)
}

// exists says whether an upload with If-None-Match: * failed because the
// blob is there. Under a retention policy the service may refuse the write
// as immutable before it evaluates the condition; only a blob that exists
// is immutable, so that too means it is there.
func exists(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet, bloberror.BlobImmutableDueToPolicy) ||
		respStatus(err) == http.StatusPreconditionFailed
}

func respStatus(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func contentType(name string) *string {
	types := map[string]string{".json": "application/json", ".csv": "text/csv; charset=utf-8", ".html": "text/html; charset=utf-8", ".pdf": "application/pdf"}
	t, ok := types[path.Ext(name)]
	if !ok {
		t = "application/octet-stream"
	}
	return &t
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func to[T any](v T) *T { return &v }

func show(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
