// Command chronyprobe looks for a chronyd the way the receiver does with no
// endpoint set (unix socket, then UDP 127.0.0.1:323, then [::1]:323) and
// prints the endpoint that answered; it exits 1 when none did.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/chronyclient"
	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/internal/transport"
)

func main() {
	c, err := chronyclient.New("", transport.Options{RetryInterval: 300 * time.Millisecond}, zap.NewNop())
	if err != nil {
		fmt.Fprintln(os.Stderr, "chronyprobe:", err)
		os.Exit(1)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.Tracking(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "chronyprobe: no chronyd answered:", err)
		os.Exit(1)
	}
	fmt.Println(c.Endpoint())
}
