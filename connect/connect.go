// Package connect is Sluice's Kafka Connect-compatible worker: the herder
// (distributed mode over connect-configs, connect-offsets, connect-status and
// a "connect" group), the runtime that runs connectors and tasks, and the
// Connect REST API. It talks to Kafka only through franz-go, so it runs
// against Sluice's broker or any Kafka.
package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connect/herder"
	"github.com/sluicehq/sluice/connect/rest"
	"github.com/sluicehq/sluice/connect/runtime"

	// Built-in connectors register their classes.
	_ "github.com/sluicehq/sluice/connectors/datagen"
	_ "github.com/sluicehq/sluice/connectors/file"
)

// Config configures a Worker.
type Config struct {
	Bootstrap  []string
	Addr       string // REST listen address; empty means no listener (use Handler)
	GroupID    string // default "connect-cluster"
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Worker is one Connect worker.
type Worker struct {
	h   *herder.Herder
	api http.Handler
	ln  net.Listener
	log *slog.Logger
}

// New builds a worker and binds its REST listener if Addr is set.
func New(cfg Config) (*Worker, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var ln net.Listener
	id := "sluice-connect"
	url := ""
	if cfg.Addr != "" {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("connect listener: %w", err)
		}
		id = advertisedAddr(ln.Addr().(*net.TCPAddr))
		url = "http://" + id
	}
	// Loggers name the worker's parts as Kafka Connect's classes, so
	// /admin/loggers can change their levels at run time.
	loggers := runtime.NewLoggers(log.Handler())
	h, err := herder.New(herder.Config{Seeds: cfg.Bootstrap, WorkerID: id, URL: url, GroupID: cfg.GroupID, Loggers: loggers, Registerer: cfg.Registerer})
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, err
	}
	return &Worker{h: h, api: rest.New(h, ""), ln: ln, log: loggers.Logger(runtime.LoggerREST)}, nil
}

// advertisedAddr is the address other workers reach this one at: the
// listener's own address, or the host name when it listens on every
// interface (as Kafka Connect's rest.advertised.host.name defaults).
func advertisedAddr(a *net.TCPAddr) string {
	if a.IP.IsUnspecified() {
		if host, err := os.Hostname(); err == nil && host != "" {
			return net.JoinHostPort(host, strconv.Itoa(a.Port))
		}
	}
	return a.String()
}

// Addr is the REST listener's address ("" without one).
func (w *Worker) Addr() string {
	if w.ln == nil {
		return ""
	}
	return w.ln.Addr().String()
}

// Handler serves the Connect REST API.
func (w *Worker) Handler() http.Handler { return w.api }

// Ready reports whether the worker has joined its cluster.
func (w *Worker) Ready() error { return w.h.Ready() }

// Herder exposes the herder (tests, embedding).
func (w *Worker) Herder() *herder.Herder { return w.h }

// Run serves until ctx ends, then stops tasks, leaves the group and shuts
// the REST server down.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var srv *http.Server
	errc := make(chan error, 1)
	if w.ln != nil {
		srv = &http.Server{Handler: w.api, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- srv.Serve(w.ln) }()
		w.log.Info("connect REST API listening", "addr", w.Addr())
	}
	err := w.h.Run(ctx)
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
		if e := <-errc; err == nil && !errors.Is(e, http.ErrServerClosed) {
			err = e
		}
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Close releases the listener and Kafka client if Run never ran; after Run
// it does nothing.
func (w *Worker) Close() error {
	w.h.Close()
	if w.ln != nil {
		err := w.ln.Close()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	}
	return nil
}
