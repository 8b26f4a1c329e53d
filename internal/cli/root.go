// Package cli is Sluice's command tree: the server commands (serve, broker)
// and the client commands that reach a running Sluice or any Kafka cluster.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs the sluice command line with args and returns the exit code.
// A failing command prints one line on stderr and exits non-zero.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// Run is Main with explicit streams, for tests.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errSilent) {
			// One line, even when a library's message spans several.
			msg := strings.Join(strings.Fields(err.Error()), " ")
			fmt.Fprintf(stderr, "sluice: %s\n", msg)
		}
		return 1
	}
	return 0
}

// errSilent marks an error already reported to the user.
var errSilent = errors.New("already reported")

// NewRoot builds the whole command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: a self-hosted streaming platform (Kafka-compatible broker, Connect, Schema Registry, streams)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, add := range commands {
		root.AddCommand(add())
	}
	return root
}

// commands holds the constructors of the top-level commands; each command's
// file appends its constructor in init, so adding a command touches one file.
var commands []func() *cobra.Command

func register(cmd func() *cobra.Command) { commands = append(commands, cmd) }
