package herder

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/runtime"
)

// loggerKeyPrefix starts Kafka Connect's cluster-wide logger level
// records in connect-configs (KIP-976): logger-cluster-<namespace>,
// value {"level": "..."}.
const loggerKeyPrefix = "logger-cluster-"

// Loggers is the worker's logger registry, nil when none was configured.
func (h *Herder) Loggers() *runtime.Loggers { return h.cfg.Loggers }

// SetClusterLoggerLevel asks every worker of the cluster to set a logger
// namespace's level (PUT /admin/loggers/{name}?scope=cluster).
func (h *Herder) SetClusterLoggerLevel(ctx context.Context, namespace, level string) error {
	if _, err := runtime.ParseLevel(level); err != nil {
		return fmt.Errorf("%s: %w", err.Error(), ErrBadInput)
	}
	v, _ := json.Marshal(map[string]string{"level": level})
	return h.writeConfig(ctx, &kgo.Record{Key: []byte(loggerKeyPrefix + namespace), Value: v})
}

// applyClusterLogger applies a level record written after this worker
// started; older ones were meant for the workers running then.
func (h *Herder) applyClusterLogger(namespace string, r *kgo.Record) {
	if h.cfg.Loggers == nil || r.Value == nil || r.Timestamp.Before(h.started) {
		return
	}
	var v struct {
		Level string `json:"level"`
	}
	if json.Unmarshal(r.Value, &v) != nil {
		return
	}
	if _, err := h.cfg.Loggers.SetLevel(namespace, v.Level); err != nil {
		h.log.Warn("connect: cluster logger level", "namespace", namespace, "err", err)
	}
}
