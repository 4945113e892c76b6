// Command etcd is etcd v3.7.0's server, built from the module pinned in
// deploy/k8s/go.mod (Debian's etcd 3.4 cannot serve streaming-list clients).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
