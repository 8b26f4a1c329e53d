// Package clienttest runs real Kafka clients (kcat/librdkafka and franz-go)
// against a Sluice broker started in-process, over TCP on loopback. It holds
// only tests: the compatibility contract users rely on.
package clienttest
