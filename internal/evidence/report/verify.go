package report

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
)

// ManifestSchemaV1 is the first manifest layout: no previous_report and no
// signature. Verify still reads it, so that reports kept from before v2
// verify.
const ManifestSchemaV1 = "chrony-evidence/manifest/v1"

// checkSchema refuses a manifest layout this tool does not read.
func checkSchema(m *Manifest) error {
	if !slices.Contains([]string{ManifestSchemaV1, ManifestSchema}, m.Schema) {
		return fmt.Errorf("%s has schema %q, this tool reads %q and %q", ManifestName, m.Schema, ManifestSchemaV1, ManifestSchema)
	}
	if m.Schema == ManifestSchemaV1 && (m.PreviousReport != nil || m.Signature != nil) {
		return fmt.Errorf("%s has schema %q, which has no previous_report or signature, yet names one", ManifestName, m.Schema)
	}
	return nil
}

// Check is what verifying one report found.
type Check struct {
	Dir string
	// Manifest is the manifest read, and ManifestSHA256 the SHA-256 of its
	// bytes, which the next report of a chain records; nil and "" when it
	// could not be read.
	Manifest       *Manifest
	ManifestSHA256 string
	// Problems names each file that is wrong, and why; none when the
	// report verifies.
	Problems []string
	// Signature says what was checked of the signature.
	Signature string
}

// VerifyReport verifies the report in dir: every file against the
// manifest's SHA-256 as Verify does, and the manifest's signature against
// keys, the public keys any of which may have signed it. With no key, a
// signed report's signature file must be there, and is not checked. An
// error means that there is no manifest to check against.
func VerifyReport(dir string, keys []ed25519.PublicKey) (*Check, error) {
	m, raw, problems, err := verifyFiles(dir)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	c := &Check{Dir: dir, Manifest: m, ManifestSHA256: hex.EncodeToString(sum[:]), Problems: problems}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the report directory: %w", err)
	}
	defer root.Close()
	sigProblems, note := checkSignature(root, m, raw, keys)
	c.Problems = append(c.Problems, sigProblems...)
	c.Signature = note
	return c, nil
}
