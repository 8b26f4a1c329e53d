// Package kafka is the broker's Kafka protocol server: the TCP listener, one
// goroutine per connection reading size-prefixed frames, request header
// parsing, dispatch by API key to one handler per file (00_produce.go,
// 01_fetch.go, ...), and response framing. Requests and responses are
// decoded and encoded by franz-go's kmsg; we never hand-write a body.
//
// Each handler file registers its API key and version range in init();
// ApiVersions is built from that registry, so it advertises exactly what is
// implemented. Requests of one connection are handled in order, so a blocking
// handler (a Fetch long-poll) delays only its own connection.
//
// The server knows nothing of disks or metadata records: it calls a Backend
// (the broker) for topics, partition logs and configs.
package kafka
