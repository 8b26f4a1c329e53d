package streams

import (
	"context"
	"log/slog"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/runtime"
)

// defaultRun runs jobs with package runtime's Kafka runner, reporting its
// counters into the job's status for the API.
func defaultRun(cfg Config, log *slog.Logger, m *runtime.Metrics) RunFunc {
	return func(ctx context.Context, p *plan.Plan, group string, status *JobStatus) error {
		return runtime.Run(ctx, runtime.RunnerConfig{
			Bootstrap:      cfg.Bootstrap,
			Plan:           p,
			Group:          group,
			CommitInterval: cfg.CommitInterval,
			SessionTimeout: cfg.SessionTimeout,
			Registry:       cfg.Registry,
			Logger:         log.With("job", p.Job.Name),
			Metrics:        m,
			ExtraOpts:      cfg.ClientOpts,
			OnStats: func(s runtime.JobStats) {
				steps := make([]StepStats, len(s.Steps))
				for i, st := range s.Steps {
					steps[i] = StepStats{Step: st.Step, In: st.In, Out: st.Out}
				}
				status.Report(steps, s.Late, s.DeadLetters, s.Lag, s.StateSize)
			},
		})
	}
}
