package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const threeLines = "k1:v1\nk2:v2\nk3:v3\n"

// produceEvents creates a one-partition topic (so order is total) and
// produces three keyed records with two headers.
func produceEvents(t *testing.T, bs, topic string) {
	t.Helper()
	mustRun(t, bs, "", "topic", "create", topic, "--partitions", "1", "--replication-factor", "1")
	code, out, errs := runCLI(t, context.Background(), bs, threeLines, "produce", topic,
		"--key-separator", ":", "--header", "h1=a", "--header", "h2=b", "--compression", "zstd")
	if code != 0 || out != "" || !strings.Contains(errs, "produced 3 records") {
		t.Fatalf("produce: exit %d stdout %q stderr %q", code, out, errs)
	}
}

func testProduceConsume(t *testing.T, bs string) {
	produceEvents(t, bs, "events")

	if got := mustRun(t, bs, "", "consume", "events", "--from-beginning", "-n", "3"); got != "v1\nv2\nv3\n" {
		t.Errorf("values = %q", got)
	}
	got := mustRun(t, bs, "", "consume", "events", "--from-beginning", "-n", "3", "--format", `%t %p/%o %k=%v [%h]\n`)
	want := "events 0/0 k1=v1 [h1=a,h2=b]\nevents 0/1 k2=v2 [h1=a,h2=b]\nevents 0/2 k3=v3 [h1=a,h2=b]\n"
	if got != want {
		t.Errorf("--format output\n got %q\nwant %q", got, want)
	}

	jsonOut := mustRun(t, bs, "", "consume", "events", "--from-beginning", "-n", "3", "-o", "json")
	lines := strings.Split(strings.TrimSuffix(jsonOut, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("json output has %d lines: %q", len(lines), jsonOut)
	}
	for i, l := range lines {
		var r consumedRecord
		mustJSON(t, l, &r)
		n := string(rune('1' + i))
		if r.Topic != "events" || r.Partition != 0 || r.Offset != int64(i) || r.Key == nil || *r.Key != "k"+n ||
			r.Value == nil || *r.Value != "v"+n || r.Timestamp <= 0 || len(r.Headers) != 2 ||
			r.Headers[0] != (recordHeader{"h1", "a"}) || r.Headers[1] != (recordHeader{"h2", "b"}) {
			t.Errorf("record %d = %s", i, l)
		}
	}

	// Start at an offset on one partition; stop when idle instead of after n.
	if got := mustRun(t, bs, "", "consume", "events", "--partition", "0", "--offset", "1", "--timeout", "1s"); got != "v2\nv3\n" {
		t.Errorf("--offset 1 = %q", got)
	}
	if got := mustRun(t, bs, "", "consume", "events", "--offset", "-1", "-n", "1"); got != "v3\n" {
		t.Errorf("--offset -1 = %q", got)
	}
	if got := mustRun(t, bs, "", "consume", "events", "--timestamp", "0", "-n", "1"); got != "v1\n" {
		t.Errorf("--timestamp 0 = %q", got)
	}
	// Without a key separator the whole line is the value.
	mustRun(t, bs, "plain line\n", "produce", "events", "--acks", "1")
	if got := mustRun(t, bs, "", "consume", "events", "--offset", "3", "-n", "1", "--format", `%k|%v\n`); got != "|plain line\n" {
		t.Errorf("plain record = %q", got)
	}
	mustRun(t, bs, "", "topic", "delete", "events")
}

func TestFormatTemplate(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 2, Offset: 7, Key: []byte("k"), Value: []byte("v"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}}
	for tmpl, want := range map[string]string{
		`%t/%p/%o %k=%v\n`:   "t/2/7 k=v\n",
		`%T %h\t100%%`:       "1700000000123 a=1,b=2\t100%",
		`plain \x trailing%`: `plain \x trailing%`,
		`%%v`:                "%v",
		`\\n`:                `\n`,
	} {
		parts, err := parseFormat(tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tmpl, err)
		}
		if got := render1(parts, r); got != want {
			t.Errorf("%q: got %q want %q", tmpl, got, want)
		}
	}
	if _, err := parseFormat("%x"); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]int64{
		"0":                           0,
		"1700000000123":               1700000000123,
		"2023-11-14T22:13:20Z":        1700000000000,
		"2023-11-14T23:13:20.5+01:00": 1700000000500,
	} {
		got, err := parseTimestamp(in)
		if err != nil || got != want {
			t.Errorf("%q: got %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseTimestamp("yesterday"); err == nil {
		t.Error("bad timestamp accepted")
	}
}
