package report

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// SignatureName is the detached signature of manifest.json: the 64 bytes
// of the Ed25519 signature (RFC 8032) over manifest.json's exact bytes, as
// `openssl pkeyutl -sign -rawin` writes them. It is not listed in the
// manifest, which it signs; the manifest's signature field names the key.
const SignatureName = "manifest.json.sig"

// SignatureAlgorithm is the only algorithm a report is signed with.
const SignatureAlgorithm = "ed25519"

// SignatureInfo is manifest.json's signature field: which key signs the
// manifest. It is inside the signed bytes, so it cannot be changed to name
// another key without breaking the signature, and removing the signature
// file from a signed report is seen without any key.
type SignatureInfo struct {
	Algorithm string `json:"algorithm"`
	// PublicKeySHA256 is the SHA-256, in hex, of the public key's PKIX DER:
	// `openssl pkey -pubin -in public.pem -outform DER | sha256sum`.
	PublicKeySHA256 string `json:"public_key_sha256"`
}

// KeyFingerprint is the SHA-256, in hex, of the public key's PKIX
// (SubjectPublicKeyInfo) DER encoding.
func KeyFingerprint(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil { // only for a key of the wrong length
		return "invalid key: " + err.Error()
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// LoadSigningKey reads an Ed25519 private key from a PKCS#8 PEM file
// ("PRIVATE KEY"), as `openssl genpkey -algorithm ed25519` writes it.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PRIVATE KEY":
	case "PUBLIC KEY":
		return nil, fmt.Errorf("%s holds a public key (PEM %q); signing needs the private key, a PKCS#8 %q (openssl genpkey -algorithm ed25519 -out key.pem)", path, block.Type, "PRIVATE KEY")
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s holds an encrypted private key; give it unencrypted (openssl pkey -in %s -out key.pem) and protect the file instead, as a Secret mounted read-only", path, path)
	default:
		return nil, fmt.Errorf("%s holds PEM %q; want an Ed25519 private key in PKCS#8, PEM %q (openssl genpkey -algorithm ed25519 -out key.pem)", path, block.Type, "PRIVATE KEY")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS#8 private key: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds %s; chrony-evidence signs with Ed25519 only (openssl genpkey -algorithm ed25519 -out key.pem)", path, keyKind(key))
	}
	return priv, nil
}

// LoadPublicKey reads an Ed25519 public key from a PKIX PEM file ("PUBLIC
// KEY"), as `openssl pkey -in key.pem -pubout` writes it.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PUBLIC KEY":
	case "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s holds a private key (PEM %q); verify needs only the public key: openssl pkey -in %s -pubout -out public.pem", path, block.Type, path)
	default:
		return nil, fmt.Errorf("%s holds PEM %q; want an Ed25519 public key, PEM %q (openssl pkey -in key.pem -pubout)", path, block.Type, "PUBLIC KEY")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKIX public key: %w", path, err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s holds %s; chrony-evidence reports are signed with Ed25519 only", path, keyKind(key))
	}
	return pub, nil
}

// readPEM reads the first PEM block of path.
func readPEM(path string) (*pem.Block, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file", path)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block (-----BEGIN ...-----)", path)
	}
	return block, nil
}

// keyKind names a key of another algorithm than Ed25519.
func keyKind(key any) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("an RSA key (%d bits), not Ed25519", k.N.BitLen())
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA key (%d bits), not Ed25519", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return fmt.Sprintf("an ECDSA key (%s), not Ed25519", k.Curve.Params().Name)
	case *ecdsa.PublicKey:
		return fmt.Sprintf("an ECDSA key (%s), not Ed25519", k.Curve.Params().Name)
	case *ecdh.PrivateKey, *ecdh.PublicKey:
		return "an X25519 (ECDH) key, for key agreement, not an Ed25519 signing key"
	default:
		return fmt.Sprintf("a %T key, not Ed25519", key)
	}
}

// signatureInfo is the manifest's signature field for a report signed with
// key, or nil.
func signatureInfo(key ed25519.PrivateKey) *SignatureInfo {
	if key == nil {
		return nil
	}
	return &SignatureInfo{Algorithm: SignatureAlgorithm, PublicKeySHA256: KeyFingerprint(key.Public().(ed25519.PublicKey))}
}

// checkSignature checks a report's signature against the manifest it read,
// raw, with keys: the public keys given, any of which may have signed. It
// returns the problems, and a note on what was checked.
func checkSignature(root *os.Root, m *Manifest, raw []byte, keys []ed25519.PublicKey) (problems []string, note string) {
	fingerprints := make([]string, len(keys))
	for i, k := range keys {
		fingerprints[i] = KeyFingerprint(k)
	}
	if m.Signature == nil {
		if _, err := root.Lstat(SignatureName); err == nil {
			problems = append(problems, fmt.Sprintf("%s: not in the manifest, which names no signing key: not part of the report", SignatureName))
		}
		if len(keys) > 0 {
			problems = append(problems, "not signed: the manifest names no signing key, and --public-key was given")
		}
		return problems, "not signed"
	}
	s := m.Signature
	if s.Algorithm != SignatureAlgorithm {
		return []string{fmt.Sprintf("%s: the manifest says it is signed with %q; chrony-evidence signs with %q only", SignatureName, s.Algorithm, SignatureAlgorithm)}, ""
	}
	if problem := regularFile(root, SignatureName); problem != "" {
		return []string{fmt.Sprintf("%s: %s; the manifest says the report is signed by key SHA-256 %s", SignatureName, problem, s.PublicKeySHA256)}, ""
	}
	sig, err := root.ReadFile(SignatureName)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", SignatureName, err)}, ""
	}
	if len(sig) != ed25519.SignatureSize {
		return []string{fmt.Sprintf("%s: %d bytes; an Ed25519 signature is %d", SignatureName, len(sig), ed25519.SignatureSize)}, ""
	}
	if len(keys) == 0 {
		return nil, fmt.Sprintf("signed by key SHA-256 %s; the signature was not checked (no --public-key)", s.PublicKeySHA256)
	}
	i := slices.Index(fingerprints, s.PublicKeySHA256)
	if i < 0 {
		return []string{fmt.Sprintf("%s: signed with another key: the manifest names key SHA-256 %s, --public-key is %s", SignatureName, s.PublicKeySHA256, strings.Join(fingerprints, ", "))}, ""
	}
	if !ed25519.Verify(keys[i], raw, sig) {
		return []string{fmt.Sprintf("%s: the signature by key SHA-256 %s does not match manifest.json: the manifest (or the signature) was altered after signing", SignatureName, s.PublicKeySHA256)}, ""
	}
	return nil, fmt.Sprintf("the signature by key SHA-256 %s is good", s.PublicKeySHA256)
}
