package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/obs"
)

func init() {
	register(func() *cobra.Command {
		var flags serverFlags
		cmd := &cobra.Command{
			Use:   "broker",
			Short: "Run the Kafka-compatible broker alone (Kafka protocol plus metrics and health on the API port)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, log, reg, err := flags.start(cmd, "sluice broker")
				if err != nil {
					return err
				}
				log.Info("data directory", "data_dir", cfg.DataDir)
				b, err := newBroker(cfg, log, reg)
				if err != nil {
					return err
				}
				defer b.Close()
				api, err := newAPIServer(cfg.API.Addr, log, reg, map[string]obs.ReadyCheck{"broker": b.Ready})
				if err != nil {
					return err
				}
				return runAll(cmd.Context(), map[string]func(context.Context) error{
					"broker":     b.Run,
					"api server": api.run,
				})
			},
		}
		flags.add(cmd)
		return cmd
	})
}

// newBroker builds the broker from sluice.yaml and the flags.
func newBroker(cfg config.Config, log *slog.Logger, reg prometheus.Registerer) (*broker.Broker, error) {
	b, err := broker.New(broker.Config{
		DataDir:        cfg.DataDir,
		Addr:           cfg.Kafka.Addr,
		AdvertisedAddr: cfg.Kafka.AdvertisedAddr,
		Rack:           cfg.Broker["broker.rack"],
		Settings:       cfg.Broker,
		Logger:         log.With("component", "broker"),
		Registerer:     reg,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

// runAll runs each part until ctx ends or one fails; a failure stops the
// others. It returns the first failure.
func runAll(ctx context.Context, parts map[string]func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for name, run := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = fmt.Errorf("%s: %w", name, err) })
			}
			cancel()
		}()
	}
	wg.Wait()
	return first
}
