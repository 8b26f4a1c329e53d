package streams

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/streams/plan"
	"github.com/sluicehq/sluice/streams/spec"
)

// TestExamples parses and compiles every job shipped under examples/, so
// the documentation cannot drift from what the parser accepts.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/streams-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d examples", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			job, err := spec.Parse(f, data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := plan.Compile(f, job); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzApply checks that no job text crashes parsing or compiling, the two
// steps the job API runs on untrusted input.
func FuzzApply(f *testing.F) {
	files, _ := filepath.Glob("../examples/streams-*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		job, err := spec.Parse("f.yaml", []byte(s))
		if err != nil {
			return
		}
		_, _ = plan.Compile("f.yaml", job)
	})
}
