// Command chronylab runs a lab chronyd for `make run` on a machine without
// one: an upstream chronyd serving local time at stratum 1 and a chronyd
// synced to it, both with -x so the system clock is never touched, in a
// temporary directory removed on exit. It prints the endpoint to read, then
// runs until interrupted.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/chronyotel/otelcol-chrony/receiver/chronyreceiver/chronylab"
)

func main() {
	endpointFile := flag.String("endpoint-file", "", "also write the endpoint to this file once chronyd is synchronised")
	flag.Parse()

	r := &chronylab.Runner{}
	defer r.Close()
	lab := chronylab.Start(r, chronylab.Options{Refclock: true})
	fmt.Fprintf(os.Stderr, "chronylab: chronyd -x (no clock control) in %s; waiting for it to synchronise\n", lab.Dir())
	lab.WaitSynced()
	fmt.Println(lab.UnixEndpoint())
	if *endpointFile != "" {
		if err := os.WriteFile(*endpointFile, []byte(lab.UnixEndpoint()+"\n"), 0o644); err != nil {
			r.Fatalf("write %s: %v", *endpointFile, err)
		}
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	fmt.Fprintln(os.Stderr, "chronylab: stopping chronyd and removing", lab.Dir())
}
