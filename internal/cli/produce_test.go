package cli

import (
	"context"
	"strings"
	"testing"
)

func TestLineToRecord(t *testing.T) {
	hs, err := parseHeaders([]string{"a=1", "b=x=y"})
	if err != nil {
		t.Fatal(err)
	}
	p := linesProducer{topic: "t", keySep: "::", headers: hs, partition: 3, manual: true}
	r := p.record("key::val::more")
	if string(r.Key) != "key" || string(r.Value) != "val::more" || r.Partition != 3 || r.Topic != "t" ||
		len(r.Headers) != 2 || string(r.Headers[1].Value) != "x=y" {
		t.Errorf("record = %+v", r)
	}
	r = p.record("no separator")
	if r.Key != nil || string(r.Value) != "no separator" {
		t.Errorf("record without separator = %+v", r)
	}
	if _, err := parseHeaders([]string{"=v"}); err == nil {
		t.Error("header without key accepted")
	}
}

func TestProducerOpts(t *testing.T) {
	for _, acks := range []string{"all", "-1", "1", "0"} {
		for _, c := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			if _, err := producerOpts(acks, c, false); err != nil {
				t.Errorf("acks %s compression %s: %v", acks, c, err)
			}
		}
	}
}

// On kfake, which does not create topics on produce, producing to a missing
// topic or partition fails with the protocol's error.
func TestProduceFailuresKfake(t *testing.T) {
	bs := startKfake(t)
	mustRun(t, bs, "", "topic", "create", "one", "--partitions", "1")
	for _, args := range [][]string{
		{"produce", "missing"},
		{"produce", "one", "--partition", "5"},
	} {
		code, out, errs := runCLI(t, context.Background(), bs, "a\nb\n", append(args, "--request-timeout", "2s")...)
		if code != 1 || out != "" {
			t.Errorf("%v: exit %d stdout %q", args, code, out)
		}
		if !strings.HasPrefix(errs, "sluice: produce to ") || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: stderr %q", args, errs)
		}
	}
}
