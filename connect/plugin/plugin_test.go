package plugin

import (
	"strings"
	"sync"
	"testing"
)

func TestConfigDefValidate(t *testing.T) {
	d := ConfigDef{
		{Name: "req", Type: TypeString, Required: true},
		{Name: "n", Type: TypeInt, Default: "5", Validator: AtLeast(1)},
		{Name: "b", Type: TypeBoolean, Default: "false"},
		{Name: "mode", Type: TypeString, Default: "a", Validator: OneOf("a", "b")},
		{Name: "secret", Type: TypePassword},
	}
	vals, n := d.Validate(map[string]string{"n": "0", "b": "yes", "mode": "c", "secret": "s3"})
	if n != 4 {
		t.Fatalf("errors = %d: %+v", n, vals)
	}
	if !strings.Contains(vals[0].Errors[0], `Missing required configuration "req"`) || *vals[4].Value != "[hidden]" {
		t.Fatalf("vals = %+v", vals)
	}
	p, err := d.Parse(map[string]string{"req": "x", "b": "TRUE"})
	if err != nil {
		t.Fatal(err)
	}
	if p.String("req") != "x" || p.Int("n") != 5 || !p.Bool("b") || p.String("mode") != "a" {
		t.Fatal("parsed values wrong")
	}
	if _, err := d.Parse(map[string]string{}); err == nil {
		t.Fatal("missing required accepted")
	}
}

type nopConnector struct{}

func (nopConnector) ConfigDef() ConfigDef                         { return nil }
func (nopConnector) Start(map[string]string) error                { return nil }
func (nopConnector) TaskConfigs(int) ([]map[string]string, error) { return nil, nil }
func (nopConnector) Stop() error                                  { return nil }

// registerNop registers the test plugin once per process (the registry is
// global and refuses duplicates; -count=N runs the test N times).
var registerNop = sync.OnceFunc(func() {
	Register(Plugin{Class: "com.example.test.NopSinkConnector", Aliases: []string{"io.other.Nop"}, Kind: Sink, New: func() Connector { return nopConnector{} }})
})

func TestRegistryNames(t *testing.T) {
	registerNop()
	for _, n := range []string{"com.example.test.NopSinkConnector", "NopSinkConnector", "NopSink", "io.other.Nop", "Nop"} {
		p, err := Lookup(n)
		if err != nil || p.Class != "com.example.test.NopSinkConnector" {
			t.Fatalf("Lookup(%q) = %v, %v", n, p, err)
		}
	}
	if _, err := Lookup("Missing"); err == nil {
		t.Fatal("unknown class found")
	}
	if len(All()) == 0 {
		t.Fatal("All is empty")
	}
}
