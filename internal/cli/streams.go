package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/kclient"
	"github.com/sluicehq/sluice/internal/obs"
	"github.com/sluicehq/sluice/streams"
)

func init() {
	register(func() *cobra.Command {
		var flags serverFlags
		var bootstrap, jobsTopic, registry string
		var sessionTimeout time.Duration
		cmd := &cobra.Command{
			Use:   "streams",
			Short: "Run the stream processor alone against any Kafka (YAML jobs, job API on the Sluice API)",
			Long: "Run Sluice's stream processor against the Kafka cluster given by --bootstrap. Job definitions\n" +
				"live in a compacted topic, so every instance runs every job; the instances running one job\n" +
				"share its input partitions through a consumer group. The job API is served under /api/v1/jobs.",
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, log, metrics, err := flags.start(cmd, "sluice streams")
				if err != nil {
					return err
				}
				seeds, err := kclient.ParseSeeds(bootstrap)
				if err != nil {
					return err
				}
				eng, err := streams.New(streams.Config{Bootstrap: seeds, Logger: log, Registerer: metrics, JobsTopic: jobsTopic,
					Registry: registry, SessionTimeout: sessionTimeout})
				if err != nil {
					return err
				}
				defer eng.Close()
				api, err := newAPIServer(cfg.API.Addr, log, metrics, map[string]obs.ReadyCheck{"streams": streamsReady(eng)})
				if err != nil {
					return err
				}
				api.srv.Handler = streamsRoutes(eng.Handler(), api.srv.Handler)
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
				err = eng.Run(ctx)
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
		fs.StringVar(&bootstrap, "bootstrap", def, "Kafka bootstrap brokers, comma-separated host:port (env SLUICE_BOOTSTRAP)")
		fs.StringVar(&jobsTopic, "jobs-topic", streams.DefaultJobsTopic, "compacted topic holding job definitions")
		fs.StringVar(&registry, "registry", os.Getenv("SLUICE_REGISTRY"), "Schema Registry URL for Avro sources and sinks (env SLUICE_REGISTRY); a job's own registry: wins")
		fs.DurationVar(&sessionTimeout, "session-timeout", 0, "consumer group session timeout of job tasks: how soon a dead instance's partitions move (0: the engine's default)")
		return cmd
	})
}

// streamsRoutes sends the job API to jobs and everything else to rest.
// streamsReady is the readiness check of a streams engine: ready once it
// has read the job definitions.
func streamsReady(eng *streams.Engine) obs.ReadyCheck {
	return func() error {
		select {
		case <-eng.Ready():
			return nil
		default:
			return fmt.Errorf("reading job definitions")
		}
	}
}

func streamsRoutes(jobs, rest http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/jobs", jobs)
	mux.Handle("/api/v1/jobs/", jobs)
	mux.Handle("/", rest)
	return mux
}
