package testkit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
)

// SigningKey is a new Ed25519 key pair written as chrony-evidence reads it,
// into dir: the private key as PKCS#8 PEM (key.pem, what --signing-key and
// the Secret hold) and the public key as PKIX PEM (public.pem, for verify
// --public-key). publicDER is the public key's DER, whose SHA-256 is the
// fingerprint a manifest names.
func SigningKey(t T, dir string) (privateFile, publicFile string, publicDER []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	publicDER, err = x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	privateFile, publicFile = filepath.Join(dir, "key.pem"), filepath.Join(dir, "public.pem")
	for file, block := range map[string]*pem.Block{privateFile: {Type: "PRIVATE KEY", Bytes: der}, publicFile: {Type: "PUBLIC KEY", Bytes: publicDER}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return privateFile, publicFile, publicDER
}
