package cli

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/kclient"
	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/schemaregistry"
)

// registryServerFlags are what `sluice registry` takes beyond the server
// flags every server command shares.
type registryServerFlags struct {
	bootstrap     string
	topic         string
	group         string
	advertisedURL string
	compat        string
	follower      bool
	noElection    bool
}

func init() {
	register(func() *cobra.Command {
		var flags serverFlags
		var rf registryServerFlags
		cmd := &cobra.Command{
			Use:   "registry",
			Short: "Run the Schema Registry alone against any Kafka (Confluent-compatible REST API)",
			Long: "Run the Confluent-compatible Schema Registry, storing its state in the _schemas topic of the\n" +
				"Kafka cluster given by --bootstrap. Several instances with the same --group elect a leader;\n" +
				"followers forward writes to it.",
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, log, metrics, err := flags.start(cmd, "sluice schema registry")
				if err != nil {
					return err
				}
				seeds, err := kclient.ParseSeeds(rf.bootstrap)
				if err != nil {
					return err
				}
				log.Info("kafka bootstrap", "bootstrap", seeds)
				eligible := !rf.follower
				reg, err := schemaregistry.New(schemaregistry.Config{
					Bootstrap:            seeds,
					Addr:                 cfg.Registry.Addr,
					AdvertisedURL:        rf.advertisedURL,
					Topic:                rf.topic,
					GroupID:              rf.group,
					LeaderEligible:       &eligible,
					NoElection:           rf.noElection,
					DefaultCompatibility: rf.compat,
					Logger:               log,
					Registerer:           metrics,
				})
				if err != nil {
					return err
				}
				defer reg.Close()
				api, err := newAPIServer(cfg.API.Addr, log, metrics, map[string]obs.ReadyCheck{"schema-registry": reg.Ready})
				if err != nil {
					return err
				}
				ctx, cancel := context.WithCancel(cmd.Context())
				defer cancel()
				var wg sync.WaitGroup
				var apiErr error
				wg.Add(1)
				go func() {
					defer wg.Done()
					apiErr = api.run(ctx)
					cancel()
				}()
				err = reg.Run(ctx)
				cancel()
				wg.Wait()
				if err != nil {
					return err
				}
				if apiErr != nil {
					return fmt.Errorf("api server: %w", apiErr)
				}
				return nil
			},
		}
		flags.add(cmd)
		def := defaultBootstrap
		if v := os.Getenv("SLUICE_BOOTSTRAP"); v != "" {
			def = v
		}
		fs := cmd.Flags()
		fs.StringVar(&rf.bootstrap, "bootstrap", def, "Kafka bootstrap brokers, comma-separated host:port (env SLUICE_BOOTSTRAP)")
		fs.StringVar(&rf.topic, "topic", "_schemas", "topic holding the registry's state")
		fs.StringVar(&rf.group, "group", "schema-registry", "group in which instances elect a leader")
		fs.StringVar(&rf.advertisedURL, "advertised-url", "", "URL other instances forward writes to (default http://<registry-addr>)")
		fs.StringVar(&rf.compat, "default-compatibility", "BACKWARD", "global compatibility level until one is set")
		fs.BoolVar(&rf.follower, "follower", false, "never become the leader (serve reads, forward writes)")
		fs.BoolVar(&rf.noElection, "no-election", false, "be the only writer without a leader election (one instance only; for a Kafka without group support)")
		return cmd
	})
}
