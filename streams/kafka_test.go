package streams

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startKafka starts an in-process Kafka for one test and returns its
// bootstrap address. It is the one place tests choose a broker: the rest
// of the suite only uses the address.
func startKafka(t testing.TB) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}
