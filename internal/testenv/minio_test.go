package testenv

import (
	"net/http"
	"testing"
)

func TestStartMinIO(t *testing.T) {
	m := StartMinIO(t)
	resp, err := http.Get(m.Endpoint + "/minio/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ready: %s", resp.Status)
	}
}
