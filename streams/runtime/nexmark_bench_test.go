package runtime

import (
	"math/rand/v2"
	"testing"
)

// nexmark generates Nexmark-style events (persons, auctions, bids) in
// event-time order with a little disorder, as the Nexmark generator does:
// 1 person and 3 auctions per 46 bids.
type nexmark struct {
	rng  *rand.Rand
	n    int64
	time int64
}

func newNexmark() *nexmark {
	return &nexmark{rng: rand.New(rand.NewPCG(1, 2)), time: 1_700_000_000_000}
}

// next returns the source index (0 bid, 1 auction, 2 person) and a record.
func (g *nexmark) next() (int, Record) {
	g.n++
	g.time += int64(g.rng.IntN(3))
	ts := g.time - int64(g.rng.IntN(50)) // up to 50ms out of order
	switch k := g.n % 50; {
	case k == 0:
		id := g.n / 50
		return 2, Record{Key: id, Time: ts, Value: map[string]any{"id": float64(id), "name": "p", "city": "Oslo", "state": "OR"}}
	case k < 4:
		id := g.n/50*3 + k
		return 1, Record{Key: float64(id), Time: ts, Value: map[string]any{"id": float64(id), "seller": float64(g.n / 50), "category": float64(g.rng.IntN(10)), "reserve": float64(g.rng.IntN(1000))}}
	}
	auction := float64(g.n/50*3 + int64(g.rng.IntN(3)) + 1)
	return 0, Record{Key: auction, Time: ts, Value: map[string]any{
		"auction": auction, "bidder": float64(g.rng.IntN(1000)), "price": float64(g.rng.IntN(10000)), "channel": "web",
	}}
}

// bids returns n pre-generated bids so generation is not measured.
func bids(n int) []Record {
	g := newNexmark()
	out := make([]Record, 0, n)
	for len(out) < n {
		if src, r := g.next(); src == 0 {
			out = append(out, r)
		}
	}
	return out
}

// changelogEvery is how many events pass between two changelog writes in
// the benchmarks, as the runner writes a task's store changes once per
// commit interval.
const changelogEvery = 20000

// drainChanges encodes a task's store changes as the runner would before
// producing them; it returns how many there were.
func drainChanges(b *testing.B, task *Task) int {
	ch, err := task.Changes()
	if err != nil {
		b.Fatal(err)
	}
	return len(ch)
}

func benchJob(b *testing.B, job string, recs []Record) {
	p := compileJob(b, job)
	var outs, changes int
	task := NewTask(p, func(Record) { outs++ })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := recs[i%len(recs)]
		// Time moves on across laps so windows keep closing.
		r.Time += int64(i/len(recs)) * 1_000_000
		if err := task.Process(0, r); err != nil {
			b.Fatal(err)
		}
		if i%changelogEvery == changelogEvery-1 {
			changes += drainChanges(b, task)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(outs)/float64(b.N), "out/event")
	b.ReportMetric(float64(changes)/float64(b.N), "changelog/event")
}

func BenchmarkNexmarkFilterMap(b *testing.B) {
	// Nexmark q1+q2: currency conversion of bids on some auctions.
	benchJob(b, `name: q2
sources: [{name: bids, topic: bids, value: {format: json, fields: {auction: float, bidder: float, price: float, channel: string}}}]
steps:
  - filter: int(auction) % 7 != 0
  - map: {auction: auction, bidder: bidder, euros: price * 0.908}
sink: {topic: out}
`, bids(1<<16))
}

func BenchmarkNexmarkFilterMapJSON(b *testing.B) {
	// As above, but from the JSON bytes a runner reads off Kafka.
	p := compileJob(b, `name: q2
sources: [{name: bids, topic: bids, value: {format: json, fields: {auction: float, bidder: float, price: float, channel: string}}}]
steps:
  - filter: int(auction) % 7 != 0
  - map: {auction: auction, bidder: bidder, euros: price * 0.908}
sink: {topic: out}
`)
	recs := bids(1 << 12)
	raw := make([][]byte, len(recs))
	for i, r := range recs {
		raw[i], _ = EncodeValue("json", r.Value)
	}
	var outs int
	task := NewTask(p, func(r Record) {
		if _, err := EncodeValue("json", r.Value); err != nil {
			b.Fatal(err)
		}
		outs++
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := recs[i%len(recs)]
		v, err := DecodeValue(p.Sources[0], raw[i%len(raw)])
		if err != nil {
			b.Fatal(err)
		}
		r.Value = v
		if err := task.Process(0, r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(outs)/float64(b.N), "out/event")
}

func BenchmarkNexmarkTumblingCount(b *testing.B) {
	// Nexmark q5's core: bids per auction per window.
	benchJob(b, `name: q5
sources: [{name: bids, topic: bids}]
steps:
  - window: {type: tumbling, size: 10s, grace: 1s}
  - aggregate: {fields: {bids: count}}
  - emit: final
sink: {topic: out}
`, bids(1<<16))
}

func BenchmarkNexmarkHoppingMax(b *testing.B) {
	// Nexmark q7-like: highest bid per auction in 10s windows every 2s.
	benchJob(b, `name: q7
sources: [{name: bids, topic: bids}]
steps:
  - window: {type: hopping, size: 10s, advance: 2s, grace: 1s}
  - aggregate: {fields: {top: {fn: max, of: price}}}
  - emit: final
sink: {topic: out}
`, bids(1<<16))
}

func BenchmarkNexmarkWindowedJoin(b *testing.B) {
	// Bids joined with auctions created within 10s (Nexmark q3/q8 shape).
	p := compileJob(b, `name: q8
sources:
  - {name: bids, topic: bids}
  - {name: auctions, topic: auctions, key: json}
steps:
  - join: {with: auctions, type: inner, within: 10s, select: {auction: left.auction, price: left.price, seller: right.seller}}
sink: {topic: out}
`)
	g := newNexmark()
	type ev struct {
		src int
		r   Record
	}
	evs := make([]ev, 0, 1<<16)
	for len(evs) < cap(evs) {
		src, r := g.next()
		if src < 2 {
			evs = append(evs, ev{src, r})
		}
	}
	var outs, changes int
	task := NewTask(p, func(Record) { outs++ })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := evs[i%len(evs)]
		e.r.Time += int64(i/len(evs)) * 1_000_000
		if err := task.Process(e.src, e.r); err != nil {
			b.Fatal(err)
		}
		if i%changelogEvery == changelogEvery-1 {
			changes += drainChanges(b, task)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(outs)/float64(b.N), "out/event")
	b.ReportMetric(float64(changes)/float64(b.N), "changelog/event")
}
