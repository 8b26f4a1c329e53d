package broker

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var kafkaAddrRE = regexp.MustCompile(`kafka listener serving.* addr=(\S+)`)

// startSluice runs `sluice broker` as a child process and returns its Kafka
// address once it serves.
func startSluice(t *testing.T, bin, dataDir, kafkaAddr string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "broker", "--data-dir", dataDir, "--kafka-addr", kafkaAddr, "--api-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := kafkaAddrRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	select {
	case addr := <-found:
		return cmd, addr
	case <-time.After(60 * time.Second):
		t.Fatal("sluice broker did not start serving")
		return nil, ""
	}
}

// Kill -9 of `sluice broker` while an idempotent acks=all producer runs:
// after a restart every acknowledged record is there exactly once, in order
// per partition.
func TestKill9IdempotentProducer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sluice binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "sluice")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	build.Dir = filepath.Join("..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sluice: %v\n%s", err, out)
	}
	// A fixed port so the producer reconnects to the restarted broker.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir := filepath.Join(tmp, "data")
	cmd, _ := startSluice(t, bin, dataDir, addr)

	topicCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := adminOf(topicCl).CreateTopic(context.Background(), 3, 1, nil, "kill"); err != nil || resp.Err != nil {
		t.Fatal(err, resp.Err)
	}
	topicCl.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("kill"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond),
		kgo.RecordRetries(1<<30), kgo.RecordDeliveryTimeout(0), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var mu sync.Mutex
	acked := map[string]bool{}
	failed := 0
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	killed := make(chan struct{})
	var once sync.Once
	const perPartition = 4000
	for i := range perPartition {
		for p := range int32(3) {
			v := fmt.Sprintf("p%d-%d", p, i)
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Partition: p, Value: []byte(v)}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked[v] = true
				if len(acked) == 3000 {
					once.Do(func() {
						cmd.Process.Signal(syscall.SIGKILL) // mid-stream
						cmd.Wait()
						close(killed)
					})
				}
			})
		}
		if i == perPartition/2 {
			<-killed
			_, _ = startSluice(t, bin, dataDir, addr)
		}
	}
	wg.Wait()
	mu.Lock()
	t.Logf("%d acknowledged, %d failed", len(acked), failed)
	mu.Unlock()

	// Read everything back from the restarted broker.
	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("kill"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []*kgo.Record
	for len(got) < len(acked) {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d acknowledged records", len(got), len(acked))
		}
		got = append(got, fs.Records()...)
	}
	checkExactlyOnceInOrder(t, got, acked)
	if _, err := os.Stat(filepath.Join(dataDir, "kafka", "metadata", "raft", "raft.log")); err != nil {
		t.Fatal(err)
	}
}
