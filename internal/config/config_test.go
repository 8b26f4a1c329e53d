package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOverridesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	yaml := `
data_dir: /var/lib/sluice
log:
  level: debug
kafka:
  addr: 127.0.0.1:19092
  advertised_addr: kafka.example:19092
api:
  addr: 127.0.0.1:18080
broker:
  num.partitions: 3
  auto.create.topics.enable: false
  log.cleaner.min.cleanable.ratio: 0.25
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	checks := []struct{ name, got, want string }{
		{"data_dir", cfg.DataDir, "/var/lib/sluice"},
		{"log.level", cfg.Log.Level, "debug"},
		{"log.format (default kept)", cfg.Log.Format, def.Log.Format},
		{"kafka.addr", cfg.Kafka.Addr, "127.0.0.1:19092"},
		{"kafka.advertised_addr", cfg.Kafka.AdvertisedAddr, "kafka.example:19092"},
		{"api.addr", cfg.API.Addr, "127.0.0.1:18080"},
		{"registry.addr (default kept)", cfg.Registry.Addr, ":8081"},
		{"connect.addr (default kept)", cfg.Connect.Addr, ":8083"},
		{"broker num.partitions", cfg.Broker["num.partitions"], "3"},
		{"broker auto.create", cfg.Broker["auto.create.topics.enable"], "false"},
		{"broker float", cfg.Broker["log.cleaner.min.cleanable.ratio"], "0.25"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestLoadRejectsUnknownKeysAndBadValues(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown top-level key": "dta_dir: ./x\n",
		"non-scalar broker":     "broker:\n  num.partitions: [1, 2]\n",
		"not yaml":              "kafka: [\n",
		"unknown nested key":    "kafka:\n  adr: :1\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc), Default()); err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", doc)
			}
		})
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	cfg, err := Parse(nil, Default())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./data" || cfg.Kafka.Addr != ":9092" || cfg.API.Addr != ":8080" {
		t.Fatalf("defaults not kept: %+v", cfg)
	}
}

func TestMissingFileIsAnError(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "read config") {
		t.Fatalf("err = %v, want a read config error", err)
	}
}

// The sample config shipped in deploy/ must load and say what the defaults say.
func TestSampleConfigLoads(t *testing.T) {
	cfg, err := Load("../../deploy/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	if cfg.DataDir != def.DataDir || cfg.Kafka != def.Kafka || cfg.API != def.API || cfg.Log != def.Log ||
		cfg.Registry != def.Registry || cfg.Connect != def.Connect {
		t.Fatalf("deploy/sluice.yaml differs from the defaults:\n got %+v\nwant %+v", cfg, def)
	}
	if cfg.Broker["num.partitions"] != "1" {
		t.Fatalf("broker section not read: %v", cfg.Broker)
	}
}
