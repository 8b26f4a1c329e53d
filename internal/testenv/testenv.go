// Package testenv starts real servers for tests: a Sluice broker on a
// loopback port with a temporary data directory, and the external programs
// tests talk through (kcat). Everything started is stopped by t.Cleanup.
package testenv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/broker"
)

// Broker is a broker started for one test.
type Broker struct {
	*broker.Broker
	// Addr is the host:port clients bootstrap from.
	Addr    string
	DataDir string
	cancel  context.CancelFunc
	done    chan error
}

// BrokerOption adjusts the broker's configuration before it starts.
type BrokerOption func(*broker.Config)

// WithSettings sets broker configs by their Kafka names.
func WithSettings(kv map[string]string) BrokerOption {
	return func(c *broker.Config) {
		for k, v := range kv {
			c.Settings[k] = v
		}
	}
}

// WithDataDir reuses a data directory, to test restarts.
func WithDataDir(dir string) BrokerOption {
	return func(c *broker.Config) { c.DataDir = dir }
}

// WithRegisterer registers the broker's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) BrokerOption {
	return func(c *broker.Config) { c.Registerer = reg }
}

// StartBroker starts a single-node broker on 127.0.0.1 with a kernel-chosen
// port and a temporary data directory. Group joins skip the initial rebalance
// delay so tests do not wait three seconds per group.
func StartBroker(t testing.TB, opts ...BrokerOption) *Broker {
	t.Helper()
	cfg := broker.Config{
		DataDir:  t.TempDir(),
		Addr:     "127.0.0.1:0",
		Settings: map[string]string{"group.initial.rebalance.delay.ms": "0"},
		Logger:   testLogger(t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb := &Broker{Broker: b, Addr: b.Addr().String(), DataDir: cfg.DataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { tb.done <- b.Run(ctx) }()
	t.Cleanup(func() { tb.Stop(t) })
	return tb
}

// Stop shuts the broker down cleanly; calling it again does nothing.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	select {
	case err := <-b.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("broker run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("broker did not stop within 30s")
	}
	if err := b.Close(); err != nil {
		t.Errorf("broker close: %v", err)
	}
}

// testLogger logs to the test output only when SLUICE_TEST_LOG is set, so a
// failing test can be rerun with the broker's log.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Kcat returns the path of the kcat binary, failing the test with install
// instructions when it is missing: tests never skip for a missing dependency.
func Kcat(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found: run `make testdeps` (or `apt-get install kcat`)")
	}
	return path
}
