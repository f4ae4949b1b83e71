// Command metlogd is the metlog router daemon. The router itself is the
// next piece of work; this build says so and exits, so that `make run` and
// the README's first command already have their final shape.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
)

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("metlogd", version())
		return
	}
	fmt.Fprintln(os.Stderr, `metlogd: the router is not built yet.
This build of metlog has the message model, the wire codecs (Heka framing,
protobuf, metlog JSON) and the Go client library; see docs/client.md.`)
	os.Exit(1)
}

// version returns the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
