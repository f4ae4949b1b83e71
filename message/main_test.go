package message

import "flag"

// update makes golden tests rewrite their expected files in testdata
// instead of comparing against them: go test ./message -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata")
