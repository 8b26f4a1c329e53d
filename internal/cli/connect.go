package cli

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connect"
	"github.com/sluicehq/sluice/connectors/webhook"
	"github.com/sluicehq/sluice/internal/kclient"
	"github.com/sluicehq/sluice/internal/obs"
)

func init() {
	register(func() *cobra.Command {
		cmd := &cobra.Command{
			Use:   "connect",
			Short: "Kafka Connect-compatible workers (worker, pool)",
		}
		for _, sub := range connectCommands {
			cmd.AddCommand(sub())
		}
		return cmd
	})
}

// connectCommands are the subcommands of `sluice connect`; files add to it
// from init.
var connectCommands = []func() *cobra.Command{newConnectWorkerCommand}

func newConnectWorkerCommand() *cobra.Command {
	var flags serverFlags
	var bootstrap, group string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run one Kafka Connect-compatible worker against any Kafka (Connect REST API)",
		Long: "Run a Connect worker in distributed mode: its state lives in the connect-configs,\n" +
			"connect-offsets and connect-status topics of the Kafka cluster given by --bootstrap, and\n" +
			"workers started with the same --group share connectors and tasks.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, metrics, err := flags.start(cmd, "sluice connect worker")
			if err != nil {
				return err
			}
			seeds, err := kclient.ParseSeeds(bootstrap)
			if err != nil {
				return err
			}
			log.Info("kafka bootstrap", "bootstrap", seeds)
			// Trigger deliveries run in workers; their metrics belong here.
			if err := webhook.RegisterMetrics(metrics); err != nil {
				return err
			}
			w, err := connect.New(connect.Config{Bootstrap: seeds, Addr: cfg.Connect.Addr, GroupID: group, Logger: log, Registerer: metrics})
			if err != nil {
				return err
			}
			defer w.Close()
			api, err := newAPIServer(cfg.API.Addr, log, metrics, map[string]obs.ReadyCheck{"connect": w.Ready})
			if err != nil {
				return err
			}
			return runAll(cmd.Context(), map[string]func(context.Context) error{
				"connect worker": w.Run,
				"api server":     api.run,
			})
		},
	}
	flags.add(cmd)
	def := defaultBootstrap
	if v := os.Getenv("SLUICE_BOOTSTRAP"); v != "" {
		def = v
	}
	fs := cmd.Flags()
	fs.StringVar(&bootstrap, "bootstrap", def, "Kafka bootstrap brokers, comma-separated host:port (env SLUICE_BOOTSTRAP)")
	fs.StringVar(&group, "group", "connect-cluster", "group.id of the Connect cluster this worker joins")
	return cmd
}
