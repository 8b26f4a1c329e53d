// Package benchmark measures Sluice's broker end to end through a real Kafka
// client (franz-go) and, in the same run, franz-go's in-memory fake cluster
// (kfake) as a peer, printing MB/s, records/s, p50/p99 produce latency and the
// ratio of the two. It holds only benchmarks; run them with `make bench`.
package benchmark
