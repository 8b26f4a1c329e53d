package s3sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

const (
	partitions = 6
	perPart    = 17000 // 102,000 records
	flushSize  = 1000
)

// TestEndToEndWithKills runs the connector in a `sluice connect pool` of
// two worker processes (with SLUICE_S3_WORKERS=1: two `sluice connect
// worker` processes the test restarts itself), SIGKILLs a worker 10 times
// while they write, each replaced by a new one, and checks that every offset of every partition is in exactly one
// object, in order, with the record it was produced with.
func TestEndToEndWithKills(t *testing.T) {
	t.Parallel() // mostly waits (session timeouts, restarts): overlap the two kill tests
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	broker := testenv.StartBroker(t)
	minio := testenv.StartMinIO(t)
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(minio.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.MinIOUser, testenv.MinIOPassword, "")})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sink")}); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < partitions; p++ {
		for i := 0; i < perPart; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: "events", Partition: int32(p), Key: []byte(strconv.Itoa(i)),
				Value: []byte(fmt.Sprintf(`{"p":%d,"seq":%d,"note":"record %d of partition %d"}`, p, i, i, p))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Two worker processes in one Connect group run the connector: a
	// `sluice connect pool`, which restarts those it loses itself (its
	// crash-loop backoff starts at 200 ms here), or workers started by
	// the test, which restarts each one it kills.
	inPool := os.Getenv("SLUICE_S3_WORKERS") == ""
	var url string
	var workers []*testenv.Process
	if inPool {
		pool := testenv.StartProcess(t, "connect", "pool", "--bootstrap", broker.Addr, "--group", "s3-e2e", "--connect-addr", "127.0.0.1:0",
			"--api-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--min-workers", "2", "--max-workers", "2", "--restart-backoff", "200ms")
		addr, err := pool.WaitLog(ctx, regexp.MustCompile(`connect pool listening"?.* addr=(\S+)`))
		if err != nil {
			t.Fatal(err)
		}
		url = "http://" + addr
		for len(runningWorkers(t, url)) < 2 {
			select {
			case <-ctx.Done():
				t.Fatal("the pool's workers never became ready")
			case <-time.After(100 * time.Millisecond):
			}
		}
	} else {
		for i := 0; i < 2; i++ {
			w, u := testenv.StartConnectWorker(t, broker.Addr, "s3-e2e")
			workers, url = append(workers, w), u
		}
	}
	base := map[string]string{
		"connector.class": "io.confluent.connect.s3.S3SinkConnector", "tasks.max": "2", "topics": "events",
		"key.converter":   "org.apache.kafka.connect.storage.StringConverter",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
		"s3.bucket.name": "sink", "store.url": minio.Endpoint, "s3.region": "us-east-1",
		"aws.access.key.id": testenv.MinIOUser, "aws.secret.access.key": testenv.MinIOPassword,
		"format.class": "io.confluent.connect.s3.format.json.JsonFormat", "flush.size": strconv.Itoa(flushSize),
		// A killed worker's partitions move after the session timeout.
		"consumer.override.session.timeout.ms": "10000",
	}
	// Two connectors on the same records: deterministic boundaries
	// (flush.size), and wall-clock ones (rotate.schedule.interval.ms, so
	// conditional writes) under topics.dir "wall".
	wall := map[string]string{"topics.dir": "wall", "rotate.schedule.interval.ms": "700"}
	for k, v := range base {
		if _, ok := wall[k]; !ok {
			wall[k] = v
		}
	}
	createConnector(t, ctx, url, "s3", base)
	createConnector(t, ctx, url, "s3wall", wall)

	// kill -9 a running worker every 1.5 s, each in turn, and start a new
	// one in its place (the pool does that itself).
	for k := 0; k < 10; {
		time.Sleep(1500 * time.Millisecond)
		if !inPool {
			workers[k%2].Kill()
			workers[k%2], url = testenv.StartConnectWorker(t, broker.Addr, "s3-e2e")
			k++
			continue
		}
		running := runningWorkers(t, url)
		if len(running) == 0 {
			continue
		}
		if err := syscall.Kill(running[k%len(running)], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		k++
	}

	total := partitions * perPart
	for _, dir := range []string{"topics", "wall"} {
		var objs map[string][]byte
		var seen [][]int
		for {
			objs = list(t, ctx, s3c, dir+"/")
			seen, err = exactlyOnce(objs, dir)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for p := range seen {
				for _, c := range seen[p] {
					n += c
				}
			}
			if n >= total {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: %d of %d records after the deadline; status: %s %s", dir, n, total, status(url, "s3"), status(url, "s3wall"))
			case <-time.After(time.Second):
			}
		}
		for p := range seen {
			for off, n := range seen[p] {
				if n != 1 {
					t.Fatalf("%s: partition %d offset %d written %d times", dir, p, off, n)
				}
			}
		}
		if dir == "topics" && len(objs) != total/flushSize {
			t.Fatalf("%d objects, want %d", len(objs), total/flushSize)
		}
		t.Logf("%s: %d objects, %d records, each offset exactly once after 10 kills", dir, len(objs), total)
	}
}

// runningWorkers returns the pids of a pool's RUNNING workers.
func runningWorkers(t *testing.T, url string) []int {
	var ws []struct {
		State string
		PID   int
	}
	resp, err := http.Get(url + "/admin/workers")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&ws)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, w := range ws {
		if w.State == "RUNNING" {
			pids = append(pids, w.PID)
		}
	}
	return pids
}

// exactlyOnce checks names and contents of the objects and counts how
// often each offset of each partition appears.
func exactlyOnce(objs map[string][]byte, dir string) ([][]int, error) {
	re := regexp.MustCompile(`^` + dir + `/events/partition=(\d+)/events\+(\d+)\+(\d{10})\.json$`)
	seen := make([][]int, partitions)
	for p := range seen {
		seen[p] = make([]int, perPart)
	}
	for key, data := range objs {
		m := re.FindStringSubmatch(key)
		if m == nil || m[1] != m[2] {
			return nil, fmt.Errorf("unexpected object %s", key)
		}
		p, _ := strconv.Atoi(m[1])
		start, _ := strconv.Atoi(m[3])
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if dir == "topics" && len(lines) != flushSize {
			return nil, fmt.Errorf("%s has %d records, want %d", key, len(lines), flushSize)
		}
		for i, l := range lines {
			var v struct{ P, Seq int }
			if err := json.Unmarshal([]byte(l), &v); err != nil || v.P != p || v.Seq != start+i {
				return nil, fmt.Errorf("%s line %d: %s (%v)", key, i, l, err)
			}
			seen[p][v.Seq]++
		}
	}
	return seen, nil
}

func createConnector(t *testing.T, ctx context.Context, url, name string, cfg map[string]string) {
	body, _ := json.Marshal(map[string]any{"name": name, "config": cfg})
	for {
		resp, err := http.Post(url+"/connectors", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusCreated:
			return
		case resp.StatusCode == http.StatusConflict && strings.Contains(string(b), "leader") && ctx.Err() == nil:
			time.Sleep(200 * time.Millisecond) // the workers are still forming their group
		default:
			t.Fatalf("create %s: %s %s", name, resp.Status, b)
		}
	}
}

func list(t *testing.T, ctx context.Context, c *s3.Client, prefix string) map[string][]byte {
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("sink"), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sink"), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(g.Body)
			g.Body.Close()
			out[*o.Key] = b
		}
	}
	return out
}
