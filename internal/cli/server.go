package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/buildinfo"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/obs"
)

// serverFlags are the flags every server command (serve, broker, ...) takes.
// They override sluice.yaml, which overrides the defaults.
type serverFlags struct {
	configPath   string
	dataDir      string
	kafkaAddr    string
	registryAddr string
	connectAddr  string
	apiAddr      string
	logLevel     string
}

func (f *serverFlags) add(cmd *cobra.Command) {
	d := config.Default()
	fs := cmd.Flags()
	fs.StringVar(&f.configPath, "config", "", "path to sluice.yaml")
	fs.StringVar(&f.dataDir, "data-dir", d.DataDir, "directory for all data")
	fs.StringVar(&f.kafkaAddr, "kafka-addr", d.Kafka.Addr, "Kafka protocol listen address")
	fs.StringVar(&f.registryAddr, "registry-addr", d.Registry.Addr, "Schema Registry listen address")
	fs.StringVar(&f.connectAddr, "connect-addr", d.Connect.Addr, "Connect REST listen address")
	fs.StringVar(&f.apiAddr, "api-addr", d.API.Addr, "Sluice API listen address (metrics, health, jobs, triggers)")
	fs.StringVar(&f.logLevel, "log-level", d.Log.Level, "log level: debug, info, warn, error")
}

// load reads the config file and applies the flags the user set.
func (f *serverFlags) load(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return cfg, err
	}
	fs := cmd.Flags()
	set := func(name string, dst *string, v string) {
		if fs.Changed(name) {
			*dst = v
		}
	}
	set("data-dir", &cfg.DataDir, f.dataDir)
	set("kafka-addr", &cfg.Kafka.Addr, f.kafkaAddr)
	set("registry-addr", &cfg.Registry.Addr, f.registryAddr)
	set("connect-addr", &cfg.Connect.Addr, f.connectAddr)
	set("api-addr", &cfg.API.Addr, f.apiAddr)
	set("log-level", &cfg.Log.Level, f.logLevel)
	return cfg, nil
}

// start is how every server command begins: load the configuration, build
// the logger and the metrics registry, and log which part starts.
func (f *serverFlags) start(cmd *cobra.Command, part string, attrs ...any) (config.Config, *slog.Logger, *prometheus.Registry, error) {
	cfg, err := f.load(cmd)
	if err != nil {
		return cfg, nil, nil, err
	}
	log, err := obs.NewLogger(cmd.ErrOrStderr(), cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return cfg, nil, nil, err
	}
	log.Info("starting "+part, append([]any{"version", buildinfo.String()}, attrs...)...)
	return cfg, log, obs.NewRegistry(), nil
}

// apiServer is the Sluice API HTTP server (:8080): metrics, health, and later
// jobs, triggers and the console.
type apiServer struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

func newAPIServer(addr string, log *slog.Logger, gatherer prometheus.Gatherer, checks map[string]obs.ReadyCheck) (*apiServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api listener: %w", err)
	}
	mux := http.NewServeMux()
	obs.Handler(mux, gatherer, checks)
	return &apiServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, log: log}, nil
}

// run serves until ctx is done, then shuts down gracefully.
func (a *apiServer) run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(a.ln) }()
	a.log.Info("sluice API listening", "addr", a.ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(shutdownCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
