package testenv

import "testing"

func TestStartConnectWorker(t *testing.T) {
	b := StartBroker(t)
	p, url := StartConnectWorker(t, b.Addr, "g1")
	t.Log(url, p.Pid())
	if err := p.Stop(); err != nil {
		t.Fatal(err, p.Logs())
	}
}
