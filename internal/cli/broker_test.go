package cli

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var kafkaListenRE = regexp.MustCompile(`kafka listener serving.* addr=(\S+)`)

// `sluice broker` serves Kafka and, on the API port, /readyz and /metrics
// with the broker's own series.
func TestBrokerCommand(t *testing.T) {
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"broker", "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0"}, strings.NewReader(""), io.Discard, logs)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("broker exit code %d\n%s", code, logs.String())
		}
	}()
	var api, kafka string
	for deadline := time.Now().Add(30 * time.Second); api == "" || kafka == ""; time.Sleep(20 * time.Millisecond) {
		if m := apiAddrRE.FindStringSubmatch(logs.String()); m != nil {
			api = m[1]
		}
		if m := kafkaListenRE.FindStringSubmatch(logs.String()); m != nil {
			kafka = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not start:\n%s", logs.String())
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, _ := get(t, "http://"+api+"/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("cli"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, "http://"+api+"/metrics")
	for _, want := range []string{
		`sluice_broker_messages_in_total{topic="cli"} 1`,
		`sluice_broker_requests_total{api="Produce"}`,
		`sluice_broker_connections`,
		`sluice_broker_partitions 1`,
		`sluice_broker_log_size_bytes{partition="0",topic="cli"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
