package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/buildinfo"
	"github.com/sluicehq/sluice/internal/obs"
)

func init() {
	register(func() *cobra.Command {
		var flags serverFlags
		cmd := &cobra.Command{
			Use:   "serve",
			Short: "Run every part of Sluice in one process (data under ./data)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, err := flags.load(cmd)
				if err != nil {
					return err
				}
				log, err := obs.NewLogger(cmd.ErrOrStderr(), cfg.Log.Level, cfg.Log.Format)
				if err != nil {
					return err
				}
				log.Info("starting sluice", "version", buildinfo.String(), "data_dir", cfg.DataDir)
				reg := obs.NewRegistry()
				b, err := newBroker(cfg, log, reg)
				if err != nil {
					return err
				}
				defer b.Close()
				checks := map[string]obs.ReadyCheck{"broker": b.Ready}
				api, err := newAPIServer(cfg.API.Addr, log, reg, checks)
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
