// Command etcd is etcd's server, for the kube-apiserver of the server-side
// dry-run test.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
