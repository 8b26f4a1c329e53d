package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/streams"
	"github.com/sluicehq/sluice/streams/plan"
)

// jobTestAPI serves the job API of an engine on an in-process Kafka; its
// jobs "run" until stopped without doing anything.
func jobTestAPI(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopics(context.Background(), 1, 1, nil, "bids"); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	run := func(ctx context.Context, _ *plan.Plan, _ string, _ *streams.JobStatus) error {
		<-ctx.Done()
		return nil
	}
	eng, err := streams.New(streams.Config{Bootstrap: []string{addr}, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	srv := httptest.NewServer(eng.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done; eng.Close() })
	<-eng.Ready()
	return srv.URL
}

func jobRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestJobCommands(t *testing.T) {
	api := jobTestAPI(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "job.yaml")
	os.WriteFile(good, []byte("name: big\nsources: [{name: bids, topic: bids, value: {format: json, fields: {price: float}}}]\nsteps:\n  - filter: price > 1\nsink: {topic: out}\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: big\nsources: [{name: bids, topic: bids, value: {format: json, fields: {price: float}}}]\nsteps:\n  - filter: price + 1\nsink: {topic: out}\n"), 0o644)

	if out, errOut, code := jobRun(t, "job", "apply", "-f", good, "--api", api); code != 0 || !strings.Contains(out, "running") {
		t.Fatalf("apply: %d %q %q", code, out, errOut)
	}
	if _, errOut, code := jobRun(t, "job", "apply", "-f", bad, "--api", api); code == 0 || !strings.Contains(errOut, bad+":4:13: steps[0].filter") {
		t.Fatalf("apply bad: %d %q", code, errOut)
	}
	if out, _, code := jobRun(t, "job", "list", "--api", api); code != 0 || !strings.Contains(out, "big") {
		t.Fatalf("list: %d %q", code, out)
	}
	if out, _, code := jobRun(t, "job", "pause", "big", "--api", api, "-o", "json"); code != 0 || !strings.Contains(out, `"paused"`) {
		t.Fatalf("pause: %d %q", code, out)
	}
	if out, _, code := jobRun(t, "job", "describe", "big", "--api", api, "-o", "yaml"); code != 0 || !strings.Contains(out, "spec:") {
		t.Fatalf("describe: %d %q", code, out)
	}
	if _, _, code := jobRun(t, "job", "resume", "big", "--api", api); code != 0 {
		t.Fatal("resume failed")
	}
	if out, _, code := jobRun(t, "job", "delete", "big", "--api", api); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %q", code, out)
	}
	if _, errOut, code := jobRun(t, "job", "describe", "big", "--api", api); code == 0 || !strings.Contains(errOut, "job not found") {
		t.Fatalf("describe deleted: %d %q", code, errOut)
	}
}
