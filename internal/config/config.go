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

	"gopkg.in/yaml.v3"
)

// Config is the whole of sluice.yaml. Every field is documented, with its
// default, in docs/configuration.md.
type Config struct {
	// DataDir holds everything Sluice writes: partition logs, metadata.
	DataDir string `yaml:"data_dir"`
	Log     Log    `yaml:"log"`
	Kafka   Kafka  `yaml:"kafka"`
	// Registry, Connect and API are the listen addresses of the HTTP parts.
	Registry Listener `yaml:"registry"`
	Connect  Listener `yaml:"connect"`
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
		Connect:  Listener{Addr: ":8083"},
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
	Connect  *Listener      `yaml:"connect"`
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
	}{{fc.Registry, &cfg.Registry}, {fc.Connect, &cfg.Connect}, {fc.API, &cfg.API}} {
		if l.from != nil && l.from.Addr != "" {
			l.to.Addr = l.from.Addr
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
