package streams

import (
	"testing"

	"github.com/sluicehq/sluice/internal/testenv"
)

// startKafka starts a Sluice broker for one test and returns its bootstrap
// address. It is the one place tests choose a broker: the rest of the suite
// only uses the address, so it runs against any Kafka.
func startKafka(t testing.TB) string {
	t.Helper()
	return testenv.StartBroker(t).Addr
}
