// Package config loads sluice.yaml: the settings shared by `sluice serve` and
// each part's own server command. Defaults come first, the file overrides them,
// and command-line flags override the file (the CLI applies flags last).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole of sluice.yaml. Every field is documented, with its
// default, in docs/configuration.md.
type Config struct {
	// DataDir holds everything Sluice writes: partition logs, metadata.
	DataDir string `yaml:"data_dir"`
	Log     Log    `yaml:"log"`
	Kafka   Kafka  `yaml:"kafka"`
	// Registry and API are the listen addresses of those HTTP parts.
	Registry Listener `yaml:"registry"`
	Connect  Connect  `yaml:"connect"`
	API      Listener `yaml:"api"`
	// Broker holds broker and default topic settings by Kafka's own names
	// (num.partitions, log.retention.hours, ...). Values are kept as strings;
	// the broker validates them against its config table.
	Broker map[string]string `yaml:"-"`
}

// Log selects how Sluice logs (log/slog).
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Kafka is the Kafka protocol listener.
type Kafka struct {
	Addr string `yaml:"addr"`
	// AdvertisedAddr is the host:port clients are told to connect to; empty
	// means the listen address (with 127.0.0.1 when it has no host).
	AdvertisedAddr string `yaml:"advertised_addr"`
}

// Connect is the Connect REST address and the worker pool's capacity
// (`sluice serve`, `sluice connect pool`).
type Connect struct {
	Addr string `yaml:"addr"`
	// Capacity is MSK Connect's capacity object; nil means the pool's
	// default (autoscaling between 1 and 2 workers).
	Capacity *Capacity `yaml:"capacity"`
	// EvaluationWindow is how long the pool averages CPU before it scales;
	// Cooldown the least time between two scale events.
	EvaluationWindow time.Duration `yaml:"evaluation_window"`
	Cooldown         time.Duration `yaml:"cooldown"`
}

// Capacity mirrors MSK Connect's capacity JSON, key for key, so the same
// document works in sluice.yaml and PUT /admin/capacity. connect/pool
// validates it.
type Capacity struct {
	AutoScaling         *AutoScaling         `yaml:"autoScaling" json:"autoScaling,omitempty"`
	ProvisionedCapacity *ProvisionedCapacity `yaml:"provisionedCapacity" json:"provisionedCapacity,omitempty"`
}

// AutoScaling is MSK Connect's autoScaling object.
type AutoScaling struct {
	MinWorkerCount int         `yaml:"minWorkerCount" json:"minWorkerCount"`
	MaxWorkerCount int         `yaml:"maxWorkerCount" json:"maxWorkerCount"`
	McuCount       int         `yaml:"mcuCount" json:"mcuCount,omitempty"`
	ScaleInPolicy  ScalePolicy `yaml:"scaleInPolicy" json:"scaleInPolicy"`
	ScaleOutPolicy ScalePolicy `yaml:"scaleOutPolicy" json:"scaleOutPolicy"`
}

// ScalePolicy is a CPU threshold in percent.
type ScalePolicy struct {
	CPUUtilizationPercentage int `yaml:"cpuUtilizationPercentage" json:"cpuUtilizationPercentage,omitempty"`
}

// ProvisionedCapacity is MSK Connect's provisionedCapacity object.
type ProvisionedCapacity struct {
	WorkerCount int `yaml:"workerCount" json:"workerCount"`
	McuCount    int `yaml:"mcuCount" json:"mcuCount,omitempty"`
}

// Listener is an HTTP listen address.
type Listener struct {
	Addr string `yaml:"addr"`
}

// Default returns the configuration used when no file and no flag says otherwise.
func Default() Config {
	return Config{
		DataDir:  "./data",
		Log:      Log{Level: "info", Format: "text"},
		Kafka:    Kafka{Addr: ":9092"},
		Registry: Listener{Addr: ":8081"},
		Connect:  Connect{Addr: ":8083", EvaluationWindow: 5 * time.Minute, Cooldown: 5 * time.Minute},
		API:      Listener{Addr: ":8080"},
		Broker:   map[string]string{},
	}
}

// fileConfig mirrors Config for decoding; the broker section accepts any YAML
// scalar so users can write numbers and booleans naturally.
type fileConfig struct {
	DataDir  *string        `yaml:"data_dir"`
	Log      *Log           `yaml:"log"`
	Kafka    *Kafka         `yaml:"kafka"`
	Registry *Listener      `yaml:"registry"`
	Connect  *Connect       `yaml:"connect"`
	API      *Listener      `yaml:"api"`
	Broker   map[string]any `yaml:"broker"`
}

// Load reads the YAML file at path over the defaults. Unknown keys are an
// error, so a typo does not silently fall back to a default.
func Load(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw, cfg)
}

// Parse decodes YAML over base.
func Parse(raw []byte, base Config) (Config, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true) // a typo is an error, not a silent default
	// io.EOF means an empty file: defaults only.
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return base, fmt.Errorf("parse config: %w", err)
	}
	cfg := base
	if fc.DataDir != nil {
		cfg.DataDir = *fc.DataDir
	}
	if fc.Log != nil {
		if fc.Log.Level != "" {
			cfg.Log.Level = fc.Log.Level
		}
		if fc.Log.Format != "" {
			cfg.Log.Format = fc.Log.Format
		}
	}
	if fc.Kafka != nil {
		if fc.Kafka.Addr != "" {
			cfg.Kafka.Addr = fc.Kafka.Addr
		}
		cfg.Kafka.AdvertisedAddr = fc.Kafka.AdvertisedAddr
	}
	for _, l := range []struct {
		from *Listener
		to   *Listener
	}{{fc.Registry, &cfg.Registry}, {fc.API, &cfg.API}} {
		if l.from != nil && l.from.Addr != "" {
			l.to.Addr = l.from.Addr
		}
	}
	if c := fc.Connect; c != nil {
		if c.Addr != "" {
			cfg.Connect.Addr = c.Addr
		}
		if c.Capacity != nil {
			cfg.Connect.Capacity = c.Capacity
		}
		for _, d := range []struct {
			name string
			from time.Duration
			to   *time.Duration
		}{{"evaluation_window", c.EvaluationWindow, &cfg.Connect.EvaluationWindow}, {"cooldown", c.Cooldown, &cfg.Connect.Cooldown}} {
			if d.from < 0 {
				return base, fmt.Errorf("parse config: connect.%s must not be negative, got %s", d.name, d.from)
			}
			if d.from > 0 {
				*d.to = d.from
			}
		}
	}
	cfg.Broker = make(map[string]string, len(base.Broker)+len(fc.Broker))
	for k, v := range base.Broker {
		cfg.Broker[k] = v
	}
	for k, v := range fc.Broker {
		s, err := scalar(v)
		if err != nil {
			return base, fmt.Errorf("parse config: broker.%s: %w", k, err)
		}
		cfg.Broker[k] = s
	}
	return cfg, nil
}

func scalar(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case uint64:
		return strconv.FormatUint(t, 10), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	default:
		return "", fmt.Errorf("want a scalar value, got %T", v)
	}
}
