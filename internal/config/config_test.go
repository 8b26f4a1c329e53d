package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	// The sample spells out the pool's default capacity (the code leaves it
	// nil and lets connect/pool fill it in).
	want := AutoScaling{MinWorkerCount: 1, MaxWorkerCount: 2, McuCount: 1,
		ScaleInPolicy: ScalePolicy{CPUUtilizationPercentage: 20}, ScaleOutPolicy: ScalePolicy{CPUUtilizationPercentage: 80}}
	if c := cfg.Connect.Capacity; c == nil || c.AutoScaling == nil || *c.AutoScaling != want || c.ProvisionedCapacity != nil {
		t.Fatalf("sample connect.capacity = %+v, want autoScaling %+v", c, want)
	}
	cfg.Connect.Capacity = nil
	if cfg.DataDir != def.DataDir || cfg.Kafka != def.Kafka || cfg.API != def.API || cfg.Log != def.Log ||
		cfg.Registry != def.Registry || cfg.Connect != def.Connect {
		t.Fatalf("deploy/sluice.yaml differs from the defaults:\n got %+v\nwant %+v", cfg, def)
	}
	if cfg.Broker["num.partitions"] != "1" {
		t.Fatalf("broker section not read: %v", cfg.Broker)
	}
}

func TestConnectSection(t *testing.T) {
	cfg, err := Parse([]byte(`
connect:
  addr: 127.0.0.1:18083
  evaluation_window: 30s
  cooldown: 1m
  capacity:
    autoScaling:
      minWorkerCount: 2
      maxWorkerCount: 4
      mcuCount: 2
      scaleInPolicy: {cpuUtilizationPercentage: 25}
      scaleOutPolicy: {cpuUtilizationPercentage: 75}
`), Default())
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connect
	if c.Addr != "127.0.0.1:18083" || c.EvaluationWindow != 30*time.Second || c.Cooldown != time.Minute {
		t.Fatalf("connect = %+v", c)
	}
	a := c.Capacity.AutoScaling
	if a == nil || a.MinWorkerCount != 2 || a.MaxWorkerCount != 4 || a.McuCount != 2 ||
		a.ScaleInPolicy.CPUUtilizationPercentage != 25 || a.ScaleOutPolicy.CPUUtilizationPercentage != 75 {
		t.Fatalf("autoScaling = %+v", a)
	}
	// Defaults: 5 min window and cool-down, no capacity (the pool's default).
	d := Default().Connect
	if d.EvaluationWindow != 5*time.Minute || d.Cooldown != 5*time.Minute || d.Capacity != nil {
		t.Fatalf("defaults %+v", d)
	}
	cfg, err = Parse([]byte("connect:\n  capacity:\n    provisionedCapacity: {workerCount: 3}\n"), Default())
	if err != nil || cfg.Connect.Capacity.ProvisionedCapacity.WorkerCount != 3 || cfg.Connect.Addr != ":8083" {
		t.Fatalf("provisioned: %+v %v", cfg.Connect, err)
	}
	for _, doc := range []string{
		"connect:\n  capacity:\n    autoScaling: {minWorkers: 1}\n",
		"connect:\n  cooldown: soon\n",
		"connect:\n  evaluation_window: -1s\n",
		"connect:\n  scale: 1\n",
	} {
		if _, err := Parse([]byte(doc), Default()); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", doc)
		}
	}
}
