package cli

import (
	"github.com/sluicehq/sluice/internal/testenv"

	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startKfake runs franz-go's in-memory Kafka on a kernel-chosen port.
func startKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// runCLI runs sluice with args against bootstrap and returns exit code,
// stdout and stderr.
func runCLI(t *testing.T, ctx context.Context, bootstrap, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--bootstrap", bootstrap)
	code := Run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// mustRun is runCLI that fails the test on a non-zero exit.
func mustRun(t *testing.T, bootstrap, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, context.Background(), bootstrap, stdin, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d, stderr: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
}

// testClientCommands drives the client commands end to end against the
// Kafka cluster at bootstrap, so that any cluster (franz-go's kfake, Sluice's
// own broker) can be checked with the same expectations.
func testClientCommands(t *testing.T, bootstrap string) {
	t.Run("topics", func(t *testing.T) { testTopicCommands(t, bootstrap) })
	t.Run("produce-consume", func(t *testing.T) { testProduceConsume(t, bootstrap) })
	t.Run("groups", func(t *testing.T) { testGroupCommands(t, bootstrap) })
	t.Run("errors", func(t *testing.T) { testClientErrors(t, bootstrap) })
}

func TestClientCommandsKfake(t *testing.T) {
	testClientCommands(t, startKfake(t))
}

// The same commands against Sluice's own broker.
func TestClientCommandsSluice(t *testing.T) {
	testClientCommands(t, testenv.StartBroker(t).Addr)
}

func TestUnreachableBootstrapFailsWithOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"topic", "list"},
		{"group", "list"},
		{"produce", "x"},
		{"consume", "x", "--from-beginning"},
	} {
		code, out, errs := runCLI(t, context.Background(), "127.0.0.1:1", "a\n", append(args, "--request-timeout", "2s")...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if out != "" {
			t.Errorf("%v: stdout %q, want empty", args, out)
		}
		if !strings.HasPrefix(errs, "sluice: ") || strings.Count(errs, "\n") != 1 ||
			!strings.Contains(errs, "cannot reach Kafka cluster at 127.0.0.1:1") {
			t.Errorf("%v: stderr %q, want one 'cannot reach' line", args, errs)
		}
	}
}

func TestBadFlagsFail(t *testing.T) {
	for _, args := range [][]string{
		{"topic", "list", "-o", "xml"},
		{"topic", "create", "x", "--config", "novalue"},
		{"produce", "x", "--acks", "2"},
		{"produce", "x", "--compression", "brotli"},
		{"consume", "x", "--from-beginning", "--offset", "3"},
		{"consume", "x", "--format", "%z"},
		{"consume", "x", "--group", "g", "--partition", "0"},
		{"group", "reset-offsets", "g", "--topic", "x"},
	} {
		code, _, errs := runCLI(t, context.Background(), "127.0.0.1:1", "", args...)
		if code != 1 || !strings.HasPrefix(errs, "sluice: ") || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d stderr %q, want exit 1 with one line", args, code, errs)
		}
	}
}

func testClientErrors(t *testing.T, bs string) {
	for _, args := range [][]string{
		{"topic", "describe", "no-such-topic"},
		{"topic", "delete", "no-such-topic"},
		{"consume", "no-such-topic", "-n", "1"},
	} {
		code, out, errs := runCLI(t, context.Background(), bs, "", args...)
		if code != 1 || !strings.HasPrefix(errs, "sluice: ") || strings.Count(errs, "\n") != 1 ||
			!strings.Contains(errs, "UNKNOWN_TOPIC_OR_PARTITION") {
			t.Errorf("%v: exit %d stdout %q stderr %q", args, code, out, errs)
		}
	}
	mustRun(t, bs, "", "topic", "create", "dup", "--partitions", "1")
	code, _, errs := runCLI(t, context.Background(), bs, "", "topic", "create", "dup", "--partitions", "1")
	if code != 1 || !strings.Contains(errs, "TOPIC_ALREADY_EXISTS") {
		t.Errorf("duplicate create: exit %d stderr %q", code, errs)
	}
	mustRun(t, bs, "", "topic", "delete", "dup")
}

func TestBootstrapFromEnv(t *testing.T) {
	t.Setenv("SLUICE_BOOTSTRAP", startKfake(t))
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"topic", "list", "-o", "json"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("topic list = %q, want []", out.String())
	}
}
