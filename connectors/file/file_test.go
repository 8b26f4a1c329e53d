package file

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
)

type offsets map[string]any

// offsets is a task context outside a worker: no Kafka.
func (offsets) Bootstrap() []string   { return nil }
func (offsets) Producer() *kgo.Client { return nil }

func (o offsets) Offset(map[string]any) map[string]any {
	if o == nil {
		return nil
	}
	return o
}

func TestSourceReadsLinesAndResumes(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("a\nbb\r\npartial"), 0o644)
	src := &sourceTask{}
	if err := src.Start(offsets(nil), map[string]string{"file": in, "topic": "t"}); err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	recs, err := src.Poll(context.Background())
	if err != nil || len(recs) != 2 || recs[0].Value != "a" || recs[1].Value != "bb" {
		t.Fatalf("poll = %+v %v", recs, err)
	}
	if recs[1].SourceOffset["position"] != int64(6) || recs[1].SourcePartition["filename"] != in {
		t.Fatalf("offset = %v", recs[1].SourceOffset)
	}
	// Resuming from position 2 skips "a".
	src2 := &sourceTask{}
	src2.Start(offsets{"position": float64(2)}, map[string]string{"file": in, "topic": "t"})
	defer src2.Stop()
	recs, _ = src2.Poll(context.Background())
	if len(recs) != 1 || recs[0].Value != "bb" {
		t.Fatalf("resumed poll = %+v", recs)
	}
	if err := (&sourceTask{}).Start(offsets(nil), map[string]string{"topic": "t"}); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestSinkWritesValues(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.txt")
	s := &sinkTask{}
	if err := s.Start(nil, map[string]string{"file": out}); err != nil {
		t.Fatal(err)
	}
	err := s.Put([]*plugin.SinkRecord{{Value: "x"}, {Value: map[string]any{"a": int64(1)}}, {Value: nil}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PreCommit(nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if string(b) != "x\n{\"a\":1}\nnull\n" {
		t.Fatalf("file = %q", b)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}
