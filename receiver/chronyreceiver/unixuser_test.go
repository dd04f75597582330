package chronyreceiver

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/internal/testkit"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/chronylab"
	"github.com/chronyotel/otelcol-chrony/internal/testkit/testuser"
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
	testkit.RequireRoot(t)
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

	run := func(uid, gid int) (string, error) {
		cmd := testuser.Command(t, uid, gid, "-test.run=^TestUnixHelperProcess$")
		cmd.Env = append(os.Environ(), helperEndpointEnv+"="+lab.UnixEndpoint())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := run(uid, gid); err != nil || !strings.Contains(out, "HELPER-OK") {
		t.Errorf("as chronyd's user %s: %v\n%s", lab.User, err, out)
	}
	out, err := run(testuser.Nobody, gid)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("as a member of chronyd's group %s only: want permission denied, got %v\n%s", lab.User, err, out)
	}
	assertNoReplySockets(t, lab)
}
