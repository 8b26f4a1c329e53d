package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connect"
	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/streams"
)

func init() {
	register(func() *cobra.Command {
		var flags serverFlags
		cmd := &cobra.Command{
			Use:   "serve",
			Short: "Run every part of Sluice in one process (data under ./data)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, log, reg, err := flags.start(cmd, "sluice")
				if err != nil {
					return err
				}
				log.Info("data directory", "data_dir", cfg.DataDir)
				b, err := newBroker(cfg, log, reg)
				if err != nil {
					return err
				}
				defer b.Close()
				// The platform parts reach the embedded broker over the Kafka
				// protocol, exactly as they would reach any other cluster.
				host, port := b.Advertised()
				bootstrap := []string{net.JoinHostPort(host, strconv.Itoa(int(port)))}
				registry, err := schemaregistry.New(schemaregistry.Config{
					Bootstrap:  bootstrap,
					Addr:       cfg.Registry.Addr,
					NoElection: true, // one process: it is the only writer of _schemas
					Logger:     log.With("component", "schema-registry"),
					Registerer: reg,
				})
				if err != nil {
					return fmt.Errorf("schema registry: %w", err)
				}
				defer registry.Close()
				log.Info("schema registry listening", "addr", registry.Addr())
				jobs, err := streams.New(streams.Config{
					Bootstrap:  bootstrap,
					Logger:     log.With("component", "streams"),
					Registerer: reg,
				})
				if err != nil {
					return fmt.Errorf("streams: %w", err)
				}
				defer jobs.Close()
				worker, err := connect.New(connect.Config{
					Bootstrap:  bootstrap,
					Addr:       cfg.Connect.Addr,
					Logger:     log.With("component", "connect"),
					Registerer: reg,
				})
				if err != nil {
					return fmt.Errorf("connect: %w", err)
				}
				defer worker.Close()
				checks := map[string]obs.ReadyCheck{
					"broker":          b.Ready,
					"schema-registry": registry.Ready,
					"streams":         streamsReady(jobs),
					"connect":         worker.Ready,
				}
				api, err := newAPIServer(cfg.API.Addr, log, reg, checks)
				if err != nil {
					return err
				}
				api.srv.Handler = streamsRoutes(jobs.Handler(), api.srv.Handler)
				return runAll(cmd.Context(), map[string]func(context.Context) error{
					"broker":          b.Run,
					"schema registry": registry.Run,
					"streams":         jobs.Run,
					"connect":         worker.Run,
					"api server":      api.run,
				})
			},
		}
		flags.add(cmd)
		return cmd
	})
}
