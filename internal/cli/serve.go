package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/streams"
	"github.com/sluicehq/sluice/triggers"
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
					Registry:   registry.URL(), // Avro jobs use the embedded registry
					Logger:     log.With("component", "streams"),
					Registerer: reg,
				})
				if err != nil {
					return fmt.Errorf("streams: %w", err)
				}
				defer jobs.Close()
				// Connect runs as a pool of worker processes (this executable's
				// `connect worker`) behind the Connect address, autoscaling
				// between 1 and 2 workers unless connect.capacity says otherwise.
				capacity, err := poolCapacity(cfg.Connect.Capacity, 0, 0)
				if err != nil {
					return err
				}
				workers, err := newConnectPool(cfg, capacity, bootstrap, "connect-cluster", 0,
					log.With("component", "connect"), reg, cmd.ErrOrStderr())
				if err != nil {
					return fmt.Errorf("connect: %w", err)
				}
				defer workers.Close()
				checks := map[string]obs.ReadyCheck{
					"broker":          b.Ready,
					"schema-registry": registry.Ready,
					"streams":         streamsReady(jobs),
					"connect":         workers.Ready,
				}
				api, err := newAPIServer(cfg.API.Addr, log, reg, checks)
				if err != nil {
					return err
				}
				// Triggers are webhook connectors underneath: the trigger API
				// speaks to the pool's Connect REST front on the loopback.
				_, connectPort, err := net.SplitHostPort(workers.Addr())
				if err != nil {
					return fmt.Errorf("connect address %q: %w", workers.Addr(), err)
				}
				trig, err := triggers.New(triggers.Config{
					ConnectURL: "http://" + net.JoinHostPort("127.0.0.1", connectPort),
					Bootstrap:  bootstrap,
					Logger:     log.With("component", "triggers"),
					Registerer: reg,
				})
				if err != nil {
					return fmt.Errorf("triggers: %w", err)
				}
				defer trig.Close()
				api.srv.Handler = triggerRoutes(trig.Handler(), streamsRoutes(jobs.Handler(), api.srv.Handler))
				// The broker outlives the Connect workers on shutdown, so they can
				// deliver, commit and leave their groups before it goes.
				poolDone := make(chan struct{})
				return runAll(cmd.Context(), map[string]func(context.Context) error{
					"broker": func(ctx context.Context) error {
						bctx, bcancel := context.WithCancel(context.WithoutCancel(ctx))
						defer bcancel()
						errc := make(chan error, 1)
						go func() { errc <- b.Run(bctx) }()
						select {
						case err := <-errc:
							return err
						case <-ctx.Done():
						}
						select {
						case <-poolDone:
						case err := <-errc:
							return err
						}
						bcancel()
						return <-errc
					},
					"schema registry": registry.Run,
					"streams":         jobs.Run,
					"connect": func(ctx context.Context) error {
						defer close(poolDone)
						return workers.Run(ctx)
					},
					"api server": api.run,
				})
			},
		}
		flags.add(cmd)
		return cmd
	})
}
