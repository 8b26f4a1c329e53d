package kafka_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/kafka"
)

// frame encodes req as a request frame body (header + body, no size).
func frame(req kmsg.Request, version int16) []byte {
	req.SetVersion(version)
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "fuzz"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

func seeds() map[string][]byte {
	md := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr("fuzz")
	md.Topics = append(md.Topics, t)
	md.AllowAutoTopicCreation = true
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "fuzz2", 2, 1
	ct.Topics = append(ct.Topics, ctt)
	fe := kmsg.NewPtrFetchRequest()
	fe.MaxWaitMillis, fe.SessionEpoch = 10, 0
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "fuzz"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fe.Topics = append(fe.Topics, ft)
	pr := kmsg.NewPtrProduceRequest()
	pr.Acks = 1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "fuzz"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte("not a batch")
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "fuzz"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, "fuzz"
	dc.Resources = append(dc.Resources, dr)
	return map[string][]byte{
		"apiversions-v3": frame(kmsg.NewPtrApiVersionsRequest(), 3),
		"apiversions-v0": frame(kmsg.NewPtrApiVersionsRequest(), 0),
		"metadata-v0":    frame(kmsg.NewPtrMetadataRequest(), 0),
		"metadata-v12":   frame(md, 12),
		"createtopics":   frame(ct, 7),
		"produce-v9":     frame(pr, 9),
		"fetch-v13":      frame(fe, 13),
		"fetch-v11":      frame(fe, 11),
		"listoffsets":    frame(lo, 7),
		"describeconfig": frame(dc, 4),
		"initproducerid": frame(kmsg.NewPtrInitProducerIDRequest(), 4),
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzRequest when
// SLUICE_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SLUICE_WRITE_CORPUS") != "1" {
		t.Skip("set SLUICE_WRITE_CORPUS=1 to rewrite the corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRequest")
	os.MkdirAll(dir, 0o755)
	for name, b := range seeds() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzRequest feeds arbitrary frames through request decoding and dispatch
// against a real broker's backend: any input gets a response or an error
// (which closes the connection), never a panic.
func FuzzRequest(f *testing.F) {
	for _, b := range seeds() {
		f.Add(b)
	}
	b, err := broker.New(broker.Config{DataDir: f.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	srv := kafka.NewServer(ln, b, kafka.ServerConfig{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Bound Fetch long-polls the input may ask for.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		out, err := srv.HandleFrame(ctx, data)
		if err == nil && out != nil && int(binary.BigEndian.Uint32(out)) != len(out)-4 {
			t.Fatalf("response frame size %d for %d bytes", binary.BigEndian.Uint32(out), len(out)-4)
		}
	})
}
