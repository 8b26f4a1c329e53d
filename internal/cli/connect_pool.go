package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/connect/pool"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/kclient"
	"github.com/sluicehq/sluice/internal/obs"
)

func init() {
	connectCommands = append(connectCommands, newConnectPoolCommand, newConnectCapacityCommand)
}

// poolCapacity turns sluice.yaml's connect.capacity into the pool's type
// (nil: the pool's default) and applies --min-workers/--max-workers, which
// make the capacity autoscaling between them.
func poolCapacity(c *config.Capacity, minW, maxW int) (pool.Capacity, error) {
	capacity := pool.DefaultCapacity()
	if c != nil {
		raw, err := json.Marshal(c)
		if err != nil {
			return capacity, err
		}
		if capacity, err = pool.ParseCapacity(raw); err != nil {
			return capacity, fmt.Errorf("config connect.capacity: %w", err)
		}
	}
	if minW == 0 && maxW == 0 {
		return capacity, nil
	}
	a := pool.DefaultCapacity().AutoScaling
	if capacity.AutoScaling != nil {
		cp := *capacity.AutoScaling
		a = &cp
	} else {
		a.McuCount = capacity.ProvisionedCapacity.McuCount
	}
	if minW > 0 {
		a.MinWorkerCount = minW
		if maxW == 0 && a.MaxWorkerCount < minW {
			a.MaxWorkerCount = minW
		}
	}
	if maxW > 0 {
		a.MaxWorkerCount = maxW
		if minW == 0 && a.MinWorkerCount > maxW {
			a.MinWorkerCount = maxW
		}
	}
	capacity = pool.Capacity{AutoScaling: a}
	return capacity, capacity.Validate()
}

// newConnectPool builds the worker pool of `sluice connect pool` and
// `sluice serve`: workers of this executable in group, data under the data
// directory, logs into the command's stderr.
func newConnectPool(cfg config.Config, capacity pool.Capacity, bootstrap []string, group string, restartBackoff time.Duration, log *slog.Logger, reg prometheus.Registerer, workerLogs io.Writer) (*pool.Supervisor, error) {
	return pool.New(pool.Config{
		Bootstrap:        bootstrap,
		GroupID:          group,
		Args:             []string{"--log-level", cfg.Log.Level},
		DataDir:          filepath.Join(cfg.DataDir, "connect-workers"),
		Addr:             cfg.Connect.Addr,
		Capacity:         capacity,
		EvaluationWindow: cfg.Connect.EvaluationWindow,
		Cooldown:         cfg.Connect.Cooldown,
		RestartBackoff:   restartBackoff,
		Logger:           log,
		Registerer:       reg,
		WorkerOutput:     workerLogs,
	})
}

func newConnectPoolCommand() *cobra.Command {
	var flags serverFlags
	var bootstrap, group string
	var minW, maxW int
	var restartBackoff time.Duration
	cmd := &cobra.Command{
		Use:   "pool",
		Short: "Run a pool of Connect worker processes that scales on CPU (like MSK Connect)",
		Long: "Run `sluice connect worker` processes in one group and serve the Connect REST API for\n" +
			"all of them on --connect-addr. The pool restarts a worker that dies and, with\n" +
			"autoscaling capacity (sluice.yaml connect.capacity, or --min-workers/--max-workers),\n" +
			"adds or removes a worker when the workers' average CPU crosses the scale-out or\n" +
			"scale-in threshold. GET/PUT /admin/capacity shows or changes the capacity live.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, reg, err := flags.start(cmd, "sluice connect pool")
			if err != nil {
				return err
			}
			seeds, err := kclient.ParseSeeds(bootstrap)
			if err != nil {
				return err
			}
			capacity, err := poolCapacity(cfg.Connect.Capacity, minW, maxW)
			if err != nil {
				return err
			}
			p, err := newConnectPool(cfg, capacity, seeds, group, restartBackoff, log, reg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer p.Close()
			api, err := newAPIServer(cfg.API.Addr, log, reg, map[string]obs.ReadyCheck{"connect": p.Ready})
			if err != nil {
				return err
			}
			return runAll(cmd.Context(), map[string]func(context.Context) error{
				"connect pool": p.Run,
				"api server":   api.run,
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
	fs.StringVar(&group, "group", "connect-cluster", "group.id of the Connect cluster the workers form")
	fs.IntVar(&minW, "min-workers", 0, "autoscale from this many workers (overrides connect.capacity)")
	fs.IntVar(&maxW, "max-workers", 0, "autoscale up to this many workers (overrides connect.capacity)")
	fs.DurationVar(&restartBackoff, "restart-backoff", time.Second, "delay before replacing a worker that died; doubles (up to 30s) while workers die within 10s of starting")
	return cmd
}

func newConnectCapacityCommand() *cobra.Command {
	f := &connectorFlags{}
	var file string
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Show or set a Connect pool's capacity (GET/PUT /admin/capacity)",
		Long: "Without -f, show the pool's capacity and workers. With -f, set the capacity from\n" +
			"MSK Connect's JSON: {\"autoScaling\":{\"minWorkerCount\":1,\"maxWorkerCount\":4,\"mcuCount\":1,\n" +
			"\"scaleInPolicy\":{\"cpuUtilizationPercentage\":20},\"scaleOutPolicy\":{\"cpuUtilizationPercentage\":80}}}\n" +
			"or {\"provisionedCapacity\":{\"workerCount\":2,\"mcuCount\":1}}. -f - reads standard input.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			var got pool.Capacity
			if file != "" {
				var data []byte
				var err error
				if file == "-" {
					data, err = io.ReadAll(cmd.InOrStdin())
				} else {
					data, err = os.ReadFile(file)
				}
				if err != nil {
					return err
				}
				if !json.Valid(data) {
					return fmt.Errorf("%s: not a JSON document", file)
				}
				if err := f.connectorCall(ctx, "PUT", "/admin/capacity", json.RawMessage(bytes.TrimSpace(data)), &got); err != nil {
					return err
				}
			} else if err := f.connectorCall(ctx, "GET", "/admin/capacity", nil, &got); err != nil {
				return err
			}
			var workers []pool.WorkerInfo
			if err := f.connectorCall(ctx, "GET", "/admin/workers", nil, &workers); err != nil {
				return err
			}
			return render(cmd.OutOrStdout(), f.output, capacityView{Capacity: got, Workers: workers}, capacityTables(got, workers)...)
		},
	}
	def := defaultConnect
	if v := os.Getenv("SLUICE_CONNECT"); v != "" {
		def = v
	}
	fs := cmd.Flags()
	fs.StringVar(&f.connect, "connect", def, "Connect pool REST URL (env SLUICE_CONNECT)")
	fs.DurationVar(&f.timeout, "request-timeout", 30*time.Second, "how long to wait for the pool to answer")
	fs.StringVarP(&file, "file", "f", "", "capacity JSON to set (- for standard input)")
	addOutputFlag(cmd, &f.output)
	return cmd
}

// capacityView is `sluice connect capacity -o json|yaml`.
type capacityView struct {
	Capacity pool.Capacity     `json:"capacity" yaml:"capacity"`
	Workers  []pool.WorkerInfo `json:"workers" yaml:"workers"`
}

func capacityTables(c pool.Capacity, workers []pool.WorkerInfo) []*table {
	ct := &table{header: []string{"MODE", "MIN", "MAX", "MCU", "SCALE IN CPU %", "SCALE OUT CPU %"}}
	if a := c.AutoScaling; a != nil {
		ct.add("autoScaling", strconv.Itoa(a.MinWorkerCount), strconv.Itoa(a.MaxWorkerCount), strconv.Itoa(a.McuCount),
			strconv.Itoa(a.ScaleInPolicy.CPUUtilizationPercentage), strconv.Itoa(a.ScaleOutPolicy.CPUUtilizationPercentage))
	}
	if p := c.ProvisionedCapacity; p != nil {
		n := strconv.Itoa(p.WorkerCount)
		ct.add("provisionedCapacity", n, n, strconv.Itoa(p.McuCount), "-", "-")
	}
	wt := &table{header: []string{"WORKER", "PID", "STATE", "CPU %", "URL"}}
	for _, w := range workers {
		cpu := "-"
		if w.CPUPercent != nil {
			cpu = strconv.FormatFloat(*w.CPUPercent, 'f', 1, 64)
		}
		wt.add(w.Name, strconv.Itoa(w.PID), w.State, cpu, orDash(w.URL))
	}
	return []*table{ct, wt}
}
