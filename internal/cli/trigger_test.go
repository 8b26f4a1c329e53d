package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/triggers"
)

func runTriggerCLI(api string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"trigger", "--api", api}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestTriggerCommands(t *testing.T) {
	kafka := testenv.StartBroker(t).Addr
	w, err := connect.New(connect.Config{Bootstrap: []string{kafka}, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for w.Ready() != nil {
		time.Sleep(20 * time.Millisecond)
	}
	api, err := triggers.New(triggers.Config{ConnectURL: "http://" + w.Addr(), Bootstrap: []string{kafka}})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "clicks"); err != nil {
		t.Fatal(err)
	}
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer recv.Close()

	spec := filepath.Join(t.TempDir(), "t.yaml")
	os.WriteFile(spec, []byte("url: "+recv.URL+"\ntopics: [clicks]\nbatchSize: 10\n"), 0o644)
	out, errOut, code := runTriggerCLI(srv.URL, "create", "c1", "-f", spec, "--window", "0")
	if code != 0 || !strings.Contains(out, "c1") || !strings.Contains(out, "whsec_") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	_, errOut, code = runTriggerCLI(srv.URL, "create", "c1", "--url", recv.URL, "--topics", "clicks")
	if code == 0 || !strings.Contains(errOut, "already exists") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("second create: %d %q", code, errOut)
	}
	_, errOut, code = runTriggerCLI(srv.URL, "create", "c2", "--url", "nope", "--topics", "clicks")
	if code == 0 || !strings.Contains(errOut, "HTTP 400") {
		t.Fatalf("bad url: %d %q", code, errOut)
	}
	if out, errOut, code = runTriggerCLI(srv.URL, "get", "c1"); code != 0 || !strings.Contains(out, "batchSize") || !strings.Contains(out, "10") {
		t.Fatalf("get: %d %q %q", code, out, errOut)
	}
	if out, errOut, code = runTriggerCLI(srv.URL, "update", "c1", "--batch-size", "20"); code != 0 || !strings.Contains(out, "c1") {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	if out, _, code = runTriggerCLI(srv.URL, "get", "c1", "-o", "json"); code != 0 || !strings.Contains(out, `"batchSize": 20`) || !strings.Contains(out, `"secret": "********"`) {
		t.Fatalf("get after update: %d %q", code, out)
	}
	if out, _, code = runTriggerCLI(srv.URL, "list"); code != 0 || !strings.Contains(out, "c1") || !strings.Contains(out, "clicks") {
		t.Fatalf("list: %d %q", code, out)
	}
	for _, verb := range []string{"disable", "enable", "delete"} {
		if out, errOut, code = runTriggerCLI(srv.URL, verb, "c1"); code != 0 {
			t.Fatalf("%s: %d %q %q", verb, code, out, errOut)
		}
	}
	if _, errOut, code = runTriggerCLI(srv.URL, "get", "c1"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("get after delete: %d %q", code, errOut)
	}
	if _, errOut, code = runTriggerCLI("http://127.0.0.1:1", "list"); code == 0 || !strings.Contains(errOut, "cannot reach") {
		t.Fatalf("unreachable: %d %q", code, errOut)
	}
}
