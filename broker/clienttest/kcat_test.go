package clienttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// kcat runs kcat with args and stdin, failing the test on a non-zero exit.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Kcat(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\nstderr: %s", args, err, stderr.String())
	}
	return stdout.String()
}

func adminClient(t *testing.T, bootstrap string) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func TestKcatSmoke(t *testing.T) {
	b := testenv.StartBroker(t)
	adm := adminClient(t, b.Addr)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "kc"); err != nil {
		t.Fatal(err)
	}

	// Metadata: kcat -L -J lists the broker and the topic's partitions.
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(kcat(t, "", "-b", b.Addr, "-L", "-J", "-t", "kc")), &md); err != nil {
		t.Fatalf("kcat -L -J output: %v", err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Name != b.Addr {
		t.Fatalf("brokers = %+v, want one at %s", md.Brokers, b.Addr)
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != "kc" || len(md.Topics[0].Partitions) != 3 {
		t.Fatalf("topics = %+v, want kc with 3 partitions", md.Topics)
	}

	// Produce keyed lines with librdkafka (acks=all, its default), to partition 1.
	var in strings.Builder
	const n = 50
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "key-%d:value-%d\n", i, i)
	}
	kcat(t, in.String(), "-b", b.Addr, "-P", "-t", "kc", "-p", "1", "-K", ":", "-z", "lz4")

	// Consume them back in order from partition 1.
	out := kcat(t, "", "-b", b.Addr, "-C", "-t", "kc", "-p", "1", "-o", "beginning", "-e", "-f", "%o %k=%s\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n {
		t.Fatalf("consumed %d lines, want %d:\n%s", len(lines), n, out)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%d key-%d=value-%d", i, i, i); l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}

	// Produce across all partitions, then consume as a group: every record
	// arrives once and the group's committed offsets reach the end.
	in.Reset()
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "g-%d\n", i)
	}
	kcat(t, in.String(), "-b", b.Addr, "-P", "-t", "kc")
	out = kcat(t, "", "-b", b.Addr, "-G", "kcat-group", "-o", "beginning", "-e", "-f", "%s\n",
		"-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100", "kc")
	got := strings.Fields(out)
	if len(got) != 2*n {
		t.Fatalf("group consumed %d records, want %d", len(got), 2*n)
	}
	sort.Strings(got)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] && strings.HasPrefix(got[i], "g-") {
			t.Fatalf("record %q consumed twice", got[i])
		}
	}
	// kcat commits on close; the committed offsets equal the end offsets.
	// librdkafka's sticky partitioner may leave a partition empty, and
	// nothing consumed from it means nothing to commit, as with Kafka.
	ends, err := adm.ListEndOffsets(ctx, "kc")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, "kcat-group")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		c, ok := committed.Lookup("kc", e.Partition)
		if !ok && e.Offset == 0 {
			return
		}
		if !ok || c.At != e.Offset {
			t.Errorf("partition %d: committed %+v, end %d", e.Partition, c, e.Offset)
		}
	})
}
