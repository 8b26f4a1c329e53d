package schemaregistry_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/schemaregistry"
)

// TestRegistryProcess is not a test: TestKillDuringRegisterLoop runs the
// test binary again with SLUICE_SR_CHILD_BOOTSTRAP set to make it a
// registry process it can kill -9.
func TestRegistryProcess(t *testing.T) {
	bootstrap := os.Getenv("SLUICE_SR_CHILD_BOOTSTRAP")
	if bootstrap == "" {
		t.Skip("only run as the child of TestKillDuringRegisterLoop")
	}
	reg, err := schemaregistry.New(schemaregistry.Config{
		Bootstrap:  []string{bootstrap},
		Addr:       "127.0.0.1:0",
		NoElection: true,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	go func() {
		for reg.Ready() != nil {
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println("URL", reg.URL())
	}()
	reg.Run(context.Background()) // until killed
}

type child struct {
	cmd *exec.Cmd
	url string
}

func startChild(t *testing.T, bootstrap string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRegistryProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "SLUICE_SR_CHILD_BOOTSTRAP="+bootstrap)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			c.url = u
			go io.Copy(io.Discard, out)
			return c
		}
	}
	t.Fatalf("registry process ended before it was ready: %v", sc.Err())
	return nil
}

// TestKillDuringRegisterLoop kills the registry process with SIGKILL while
// several clients register schemas, restarts it, and checks that every
// acknowledged registration is there with its id, that no id was given to
// two schemas, and that new ids continue above every acknowledged one.
func TestKillDuringRegisterLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	kafka := startKafka(t)
	c := startChild(t, kafka)

	var mu sync.Mutex
	acked := map[string]int{} // subject -> id
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	hc := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				subject := fmt.Sprintf("w%d-s%d", w, i)
				body := fmt.Sprintf(`{"schema":"{\"type\":\"record\",\"name\":\"R%d_%d\",\"fields\":[{\"name\":\"f\",\"type\":\"int\"}]}"}`, w, i)
				resp, err := hc.Post(c.url+"/subjects/"+subject+"/versions", "application/json", strings.NewReader(body))
				if err != nil {
					return // the process is gone
				}
				var id int
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if _, err := fmt.Sscanf(string(b), `{"id":%d}`, &id); resp.StatusCode == 200 && err == nil {
					mu.Lock()
					acked[subject] = id
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a good number of registrations were acknowledged.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	stop()
	wg.Wait()

	c2 := startChild(t, kafka)
	seen := map[int]string{}
	maxID := 0
	for subject, id := range acked {
		a := do(t, "GET", c2.url+"/subjects/"+subject+"/versions/1", nil)
		expect(t, a, 200, 0)
		var v struct{ ID int }
		a.json(t, &v)
		if v.ID != id {
			t.Fatalf("%s: id %d after restart, acknowledged %d", subject, v.ID, id)
		}
		if other, dup := seen[id]; dup {
			t.Fatalf("id %d given to %s and %s", id, subject, other)
		}
		seen[id] = subject
		maxID = max(maxID, id)
	}
	next := register(t, c2.url, "after-restart", schemaBody(`"string"`))
	if next <= maxID {
		t.Fatalf("id after restart %d, not above %d", next, maxID)
	}
	t.Logf("%d acknowledged registrations survived kill -9; next id %d", len(acked), next)
}
