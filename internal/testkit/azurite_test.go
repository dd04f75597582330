package testkit

import (
	"io"
	"net/http"
	"testing"
)

// The emulator starts, and the account key signs what the tests ask of it:
// a container made, a blob written and read back.
func TestAzurite(t *testing.T) {
	a := StartAzurite(t, AzuriteOptions{})
	a.CreateContainer(t, nil, "box")
	resp, err := a.Do(nil, http.MethodPut, "box/dir/a.txt", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put blob: %s", resp.Status)
	}
	resp, err = a.Do(nil, http.MethodGet, "box/dir/a.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != "hello" || resp.Header.Get("Server") != "Azurite-Blob/"+AzuriteVersion {
		t.Fatalf("get blob: %s %q from %s", resp.Status, b, resp.Header.Get("Server"))
	}
}
