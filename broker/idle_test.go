package broker

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A connection that sends no request for connections.max.idle.ms is closed,
// as Kafka closes it; one that keeps talking is not.
func TestIdleConnectionsAreClosed(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"connections.max.idle.ms": "300"})
	idle, err := net.Dial("tcp", tb.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.SetReadDeadline(time.Now().Add(30 * time.Second))
	var one [1]byte
	if _, err := idle.Read(one[:]); err == nil {
		t.Fatal("read data from an idle connection, want it closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the broker kept an idle connection open for 30s with connections.max.idle.ms=300")
	}
	// A client that keeps sending requests keeps its connection.
	cl := tb.client()
	for i := 0; i < 5; i++ {
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(testCtx(t), cl); err != nil {
			t.Fatalf("request %d on an active client: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
