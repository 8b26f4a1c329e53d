package broker

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/kafka"
)

func dial(t *testing.T, tb *testBroker) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", tb.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func rawFrame(key, version int16, body []byte) []byte {
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 42)
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// expectClosed reads until the broker closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.ReadAll(c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("connection not closed by the broker")
		}
	}
}

func TestBadInput(t *testing.T) {
	tb := startBroker(t, "", nil)
	t.Run("random bytes", func(t *testing.T) {
		for range 20 {
			c := dial(t, tb)
			junk := make([]byte, 1+rand.IntN(4096))
			for i := range junk {
				junk[i] = byte(rand.Uint32())
			}
			c.Write(junk)
			c.(*net.TCPConn).CloseWrite()
			expectClosed(t, c)
		}
	})
	t.Run("oversized frame", func(t *testing.T) {
		c := dial(t, tb)
		c.Write([]byte{0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0})
		expectClosed(t, c)
	})
	t.Run("negative size", func(t *testing.T) {
		c := dial(t, tb)
		c.Write([]byte{0xff, 0xff, 0xff, 0xf0})
		expectClosed(t, c)
	})
	t.Run("unknown key", func(t *testing.T) {
		c := dial(t, tb)
		c.Write(rawFrame(999, 0, nil))
		expectClosed(t, c)
	})
	t.Run("unsupported version", func(t *testing.T) {
		c := dial(t, tb)
		c.Write(rawFrame(int16(kmsg.Metadata), 99, nil))
		expectClosed(t, c)
	})
	t.Run("truncated body", func(t *testing.T) {
		c := dial(t, tb)
		c.Write(rawFrame(int16(kmsg.CreateTopics), 4, []byte{0, 0, 0, 5, 1}))
		expectClosed(t, c)
	})
	t.Run("apiversions from the future", func(t *testing.T) {
		c := dial(t, tb)
		c.Write(rawFrame(int16(kmsg.ApiVersions), 99, []byte{1, 2, 3}))
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != 42 {
			t.Fatalf("correlation id %d", corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse() // v0 body after a v0 header
		if err := resp.ReadFrom(body[4:]); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
			t.Fatalf("response %+v", resp)
		}
	})
	// Still serving.
	createTopic(t, tb.admin(), "alive", 1, nil)
	cl := tb.client(kgo.DefaultProduceTopic("alive"))
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// ApiVersions advertises exactly the registered handlers, and every
// advertised version of every API decodes an empty-ish request without
// closing the connection or crashing.
func TestApiVersionsAdvertised(t *testing.T) {
	tb := startBroker(t, "", nil)
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	want := map[kmsg.Key][2]int16{
		kmsg.Produce: {3, 13}, kmsg.Fetch: {4, 18}, kmsg.ListOffsets: {0, 11}, kmsg.Metadata: {0, 13},
		kmsg.ApiVersions: {0, 5}, kmsg.CreateTopics: {0, 7}, kmsg.DeleteTopics: {0, 6}, kmsg.InitProducerID: {0, 5},
	}
	got := map[kmsg.Key][2]int16{}
	for _, k := range resp.ApiKeys {
		got[kmsg.Key(k.ApiKey)] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: advertised %v, want %v", k.Name(), got[k], v)
		}
	}
	// The group coordinator's APIs are registered from broker/group, with
	// exactly the versions it implements.
	for k, max := range group.MaxVersions {
		if got[k] != [2]int16{0, max} {
			t.Errorf("%s: advertised %v, want [0 %d]", k.Name(), got[k], max)
		}
	}
	if v := got[kmsg.FindCoordinator]; v != [2]int16{0, (&kmsg.FindCoordinatorRequest{}).MaxVersion()} {
		t.Errorf("FindCoordinator: advertised %v", v)
	}
	// Nothing else is advertised: every key has a handler.
	for k := range got {
		if _, isGroup := group.MaxVersions[k]; !isGroup && k != kmsg.FindCoordinator {
			if _, _, ok := kafka.Registered(k); !ok {
				t.Errorf("%s advertised without a handler", k.Name())
			}
		}
	}
	// Metadata at every version, through a raw client pinned to it.
	for v := int16(0); v <= 13; v++ {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		cl := tb.client(kgo.MaxVersions(kversionsPinned(kmsg.Metadata, v)))
		mresp, err := req.RequestWith(testCtx(t), cl)
		if err != nil || len(mresp.Brokers) != 1 {
			t.Fatalf("metadata v%d: %v", v, err)
		}
	}
}

// roundTrip sends req at version v on a raw connection and decodes the reply.
func roundTrip(t *testing.T, c net.Conn, req kmsg.Request, v int16) kmsg.Response {
	t.Helper()
	req.SetVersion(v)
	body := []byte{}
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	if _, err := c.Write(rawFrame(req.Key(), v, body)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(v)
	buf = buf[4:]
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		buf = buf[1:] // empty header tags
	}
	if err := resp.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestAdvertisedAddress(t *testing.T) {
	b, err := New(Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", AdvertisedAddr: "kafka.example.internal:19092", Rack: "zone-a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done; b.Close() }()
	tb := &testBroker{Broker: b, t: t}
	c := dial(t, tb)
	lreq := kmsg.NewPtrListOffsetsRequest()
	lreq.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "x", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, MaxNumOffsets: 1}}}}
	if _, err := b.CreateTopic(ctx, kafka.CreateTopic{Name: "x", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if p := roundTrip(t, c, lreq, 0).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.OldStyleOffsets) != 1 || p.OldStyleOffsets[0] != 0 {
		t.Fatalf("list offsets v0 %+v", p)
	}
	for _, v := range []int16{0, 1, 9, 12} {
		resp := roundTrip(t, c, kmsg.NewPtrMetadataRequest(), v).(*kmsg.MetadataResponse)
		br := resp.Brokers[0]
		if br.Host != "kafka.example.internal" || br.Port != 19092 || (v >= 1 && (br.Rack == nil || *br.Rack != "zone-a")) {
			t.Fatalf("metadata v%d broker %+v", v, br)
		}
	}
}
