package storage

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/broker/codec"
)

func TestManagerParallelPartitions(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var wg sync.WaitGroup
	for p := int32(0); p < 4; p++ {
		l, err := m.OpenPartition("my-topic", p, DefaultLogConfig())
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := m.OpenPartition("my-topic", p, DefaultLogConfig()); again != l || m.Partition("my-topic", p) != l {
			t.Fatal("OpenPartition is not idempotent")
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := l.Append(simple(t, codec.None, fmt.Sprint(i), 3), 1); err != nil {
					t.Error(err)
					return
				}
				l.SetHighWatermark(l.LogEndOffset())
			}
		}()
		go func() { // a reader racing the appender
			defer wg.Done()
			for {
				ch := l.Changed()
				if l.HighWatermark() >= 150 {
					return
				}
				<-ch
				if _, err := l.Read(l.LogStartOffset(), ReadOptions{MaxBytes: 4096, UpTo: l.HighWatermark()}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m = newManager(t, dir, nil)
	defer m.Close()
	tps, err := m.OnDisk()
	if err != nil || len(tps) != 4 {
		t.Fatal(tps, err)
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].Partition < tps[j].Partition })
	if tps[3] != (TopicPartition{"my-topic", 3}) {
		t.Fatal(tps)
	}
	l, _ := m.OpenPartition("my-topic", 2, DefaultLogConfig())
	if l.LogEndOffset() != 150 {
		t.Fatal(l.LogEndOffset())
	}
	if err := m.DeletePartition("my-topic", 2); err != nil {
		t.Fatal(err)
	}
	if m.Partition("my-topic", 2) != nil {
		t.Fatal("still open")
	}
	if tps, _ := m.OnDisk(); len(tps) != 3 {
		t.Fatal(tps)
	}
	if l, _ := m.OpenPartition("my-topic", 2, DefaultLogConfig()); l.LogEndOffset() != 0 {
		t.Fatal("deleted data came back")
	}
	if _, err := m.OpenPartition("../x", 0, DefaultLogConfig()); err == nil {
		t.Fatal("path escape accepted")
	}
}
