package chronyreceiver

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/internal/chronylab"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/chronyclient"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

const helperEndpointEnv = "CHRONY_UNIX_HELPER_ENDPOINT"

// TestUnixHelperProcess is not a test: TestIntegrationUnixSocketNeedsChronydsUser
// runs the test binary as another user with this test selected, to read
// chronyd's tracking report as that user.
func TestUnixHelperProcess(t *testing.T) {
	endpoint := os.Getenv(helperEndpointEnv)
	if endpoint == "" {
		t.Skip("helper process for TestIntegrationUnixSocketNeedsChronydsUser")
	}
	c, err := chronyclient.New(endpoint, transport.Options{}, zap.NewNop())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = c.Tracking(ctx)
		cancel()
		_ = c.Close()
	}
	if err != nil {
		fmt.Println("HELPER-ERROR:", err)
		os.Exit(3)
	}
	fmt.Println("HELPER-OK")
	os.Exit(0)
}

// deploy/README.md says the unix socket needs chronyd's own user: its group
// can neither create the reply socket in chronyd's 0750 directory nor send to
// its 0755 socket. Checked here with chronyd running as _chrony.
func TestIntegrationUnixSocketNeedsChronydsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test switches users and needs root, which CI has")
		}
		t.Skip("needs root to run the client as other users")
	}
	lab := chronylab.Start(t, chronylab.Options{})
	if lab.User == "" {
		t.Fatal("no _chrony user: install Debian's chrony")
	}
	chronyd, err := user.Lookup(lab.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(chronyd.Uid)
	gid, _ := strconv.Atoi(chronyd.Gid)

	// The test binary, where other users can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "unixhelper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, "helper")
	copyFile(t, self, helper, 0o755)

	run := func(uid, gid int) (string, error) {
		cmd := exec.Command(helper, "-test.run=^TestUnixHelperProcess$")
		cmd.Env = append(os.Environ(), helperEndpointEnv+"="+lab.UnixEndpoint())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := run(uid, gid); err != nil || !strings.Contains(out, "HELPER-OK") {
		t.Errorf("as chronyd's user %s: %v\n%s", lab.User, err, out)
	}
	const nobody = 65534
	out, err := run(nobody, gid)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("as a member of chronyd's group %s only: want permission denied, got %v\n%s", lab.User, err, out)
	}
	assertNoReplySockets(t, lab)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
