// Command trainyard is the one binary of trainyard: the server, the node agent and every client
// command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/trainyard/trainyard/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { // the first Ctrl-C or SIGTERM asks the command to stop; a second one kills it
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, newServerCmd(), newAgentCmd())
	stop()
	os.Exit(code)
}
