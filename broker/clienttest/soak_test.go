package clienttest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestSoak runs an idempotent acks=all producer and a consumer group against
// one broker for SLUICE_SOAK_DURATION (default 10m), with members joining and
// leaving, and checks at the end that every acknowledged record was consumed
// and none twice per partition offset. Long, so only `make soak` runs it.
func TestSoak(t *testing.T) {
	if os.Getenv("SLUICE_SOAK") == "" {
		t.Skip("long-running; run with `make soak` (SLUICE_SOAK=1)")
	}
	dur := 10 * time.Minute
	if v := os.Getenv("SLUICE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SLUICE_SOAK_DURATION: %v", err)
		}
		dur = d
	}
	b := testenv.StartBroker(t, testenv.WithSettings(map[string]string{"log.segment.bytes": strconv.Itoa(8 << 20)}))
	ctx := context.Background()
	adm := adminClient(t, b.Addr)
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, "soak"); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	members := []*member{startMember(t, b.Addr, "soak-group", "soak", "m0")}
	all := members // every member ever started: those that left consumed too
	deadline := time.Now().Add(dur)
	acked := 0
	for i := 0; time.Now().Before(deadline); i++ {
		batch := make([]*kgo.Record, 500)
		for j := range batch {
			batch[j] = &kgo.Record{Topic: "soak", Value: []byte(fmt.Sprintf("r-%d-%d", i, j))}
		}
		if err := prod.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		acked += len(batch)
		switch i % 200 {
		case 50: // a member joins
			m := startMember(t, b.Addr, "soak-group", "soak", fmt.Sprintf("m%d", i))
			members = append(members, m)
			all = append(all, m)
		case 150: // the oldest leaves cleanly
			if len(members) > 1 {
				members[0].leave()
				members = members[1:]
			}
		}
	}
	waitFor(t, "every acknowledged record consumed", 5*time.Minute, func() bool {
		return len(distinctConsumed(all...)) == acked
	})
	t.Logf("soak: %d records acknowledged and consumed over %v", acked, dur)
}
