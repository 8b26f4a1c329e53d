package cli

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kclient"
)

// defaultBootstrap is where client commands look for Kafka unless told.
const defaultBootstrap = "127.0.0.1:9092"

// clientFlags are the connection and output flags every Kafka client
// command shares (see DESIGN.md, "CLI conventions").
type clientFlags struct {
	bootstrap      string
	clientID       string
	requestTimeout time.Duration
	output         string
}

// add registers the flags as persistent flags of a top-level command, so its
// subcommands take them too. withOutput adds -o/--output.
func (f *clientFlags) add(cmd *cobra.Command, withOutput bool) {
	fs := cmd.PersistentFlags()
	def := defaultBootstrap
	if v := os.Getenv("SLUICE_BOOTSTRAP"); v != "" {
		def = v
	}
	fs.StringVar(&f.bootstrap, "bootstrap", def, "Kafka bootstrap brokers, comma-separated host:port (env SLUICE_BOOTSTRAP)")
	fs.StringVar(&f.clientID, "client-id", "sluice", "client id sent to the brokers")
	fs.DurationVar(&f.requestTimeout, "request-timeout", 10*time.Second, "how long to wait for the cluster to answer a request")
	if withOutput {
		addOutputFlag(cmd, &f.output)
	}
}

func (f *clientFlags) config() (kclient.Config, error) {
	seeds, err := kclient.ParseSeeds(f.bootstrap)
	if err != nil {
		return kclient.Config{}, err
	}
	return kclient.Config{
		Seeds:          seeds,
		ClientID:       f.clientID,
		DialTimeout:    f.requestTimeout,
		RequestTimeout: f.requestTimeout,
	}, nil
}

// connect returns a kgo client that has reached the cluster.
func (f *clientFlags) connect(ctx context.Context, extra ...kgo.Opt) (*kgo.Client, error) {
	if err := checkOutput(f.output); err != nil {
		return nil, err
	}
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	return kclient.Connect(ctx, cfg, extra...)
}

// admin returns an admin client that has reached the cluster.
func (f *clientFlags) admin(ctx context.Context) (*kadm.Client, error) {
	cl, err := f.connect(ctx)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// opContext bounds one administrative operation (a few requests) so that a
// cluster that stops answering cannot hang the command.
func (f *clientFlags) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.requestTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	// Some operations take several round trips (describe, then list offsets).
	return context.WithTimeout(ctx, 3*f.requestTimeout)
}
