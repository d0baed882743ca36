// Command hello greets in the architecture it was built for: the program of
// the multi-arch demo (see the Dockerfile beside it and the README).
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("Hello, %s!\n", runtime.GOARCH)
}
