package s3sink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestKillMidMultipart SIGKILLs the worker while one of its objects is a
// multipart upload with parts uploaded but not completed (seen through
// ListMultipartUploads and ListParts, and still listed after the kill),
// restarts it, and checks that every offset is in exactly one complete
// object, that no object is partial, and that the uploads the killed
// workers left behind were aborted. Objects are ~10 MiB with
// s3.part.size 5 MiB, so each is two parts. SLUICE_SOAK=1 runs more kills
// over more data.
func TestKillMidMultipart(t *testing.T) {
	t.Parallel() // mostly waits (session timeouts, restarts): overlap the two kill tests
	// Each kill costs about a minute: the dead task's consumer keeps its
	// partitions until its session times out (45 s).
	kills, perPart := 1, 990 // 3 objects of 330 records per partition
	if os.Getenv("SLUICE_SOAK") != "" {
		kills, perPart = 5, 1980
	}
	const (
		parts     = 2
		flush     = 330
		valueSize = 32<<10 - 1 // with the newline, 32 KiB a record
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(3+2*kills)*time.Minute)
	defer cancel()
	broker := testenv.StartBroker(t)
	minio := testenv.StartMinIO(t)
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(minio.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.MinIOUser, testenv.MinIOPassword, "")})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sink")}); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	value := func(p, i int) []byte {
		v := bytes.Repeat([]byte{'x'}, valueSize)
		copy(v, fmt.Sprintf("%d,%d,", p, i))
		return v
	}
	for p := 0; p < parts; p++ {
		for i := 0; i < perPart; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: "big", Partition: int32(p), Value: value(p, i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// One worker at a time runs the connector's task; each is killed once
	// it is seen mid-upload, then the next one starts.
	cfg := map[string]string{"connector.class": "S3SinkConnector", "tasks.max": "1", "topics": "big",
		"s3.bucket.name": "sink", "store.url": minio.Endpoint, "s3.region": "us-east-1",
		"aws.access.key.id": testenv.MinIOUser, "aws.secret.access.key": testenv.MinIOPassword,
		"format.class": "ByteArrayFormat", "flush.size": strconv.Itoa(flush), "s3.part.size": "5242880",
		"consumer.override.session.timeout.ms": "10000",
		"value.converter":                      "org.apache.kafka.connect.converters.ByteArrayConverter"}
	left := map[string]bool{} // uploads of killed workers
	url := ""
	for attempt := 0; len(left) < kills; attempt++ {
		if attempt > 10*kills {
			t.Fatalf("only %d of %d kills landed mid-upload", len(left), kills)
		}
		var w *testenv.Process
		w, url = testenv.StartConnectWorker(t, broker.Addr, "s3-mp")
		if attempt == 0 {
			createConnector(t, ctx, url, "mp", cfg)
		}
		// Wait for a new upload with a part up.
		upload := ""
		for upload == "" {
			l, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("sink")})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range l.Uploads {
				if left[*u.UploadId] {
					continue
				}
				ps, err := s3c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("sink"), Key: u.Key, UploadId: u.UploadId})
				if err == nil && len(ps.Parts) > 0 {
					upload = *u.UploadId
				}
			}
			if upload == "" {
				select {
				case <-ctx.Done():
					t.Fatalf("no multipart upload under way after %d kills; objects %v", len(left), keysOf(list(t, ctx, s3c, "topics/")))
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		w.Kill()
		// Still listed after the kill: the worker died mid-upload.
		l, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("sink")})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range l.Uploads {
			if *u.UploadId == upload {
				left[upload] = true
			}
		}
	}
	_, url = testenv.StartConnectWorker(t, broker.Addr, "s3-mp")

	re := regexp.MustCompile(`^topics/big/partition=(\d+)/big\+(\d+)\+(\d{10})\.bin$`)
	for {
		objs := list(t, ctx, s3c, "topics/")
		seen := make([][]int, parts)
		for p := range seen {
			seen[p] = make([]int, perPart)
		}
		n := 0
		for key, data := range objs {
			m := re.FindStringSubmatch(key)
			if m == nil || m[1] != m[2] {
				t.Fatalf("unexpected object %s", key)
			}
			p, _ := strconv.Atoi(m[1])
			start, _ := strconv.Atoi(m[3])
			if len(data) != flush*(valueSize+1) {
				t.Fatalf("%s holds %d bytes, want %d: a partial object", key, len(data), flush*(valueSize+1))
			}
			for i := 0; i < flush; i++ {
				rec := data[i*(valueSize+1) : (i+1)*(valueSize+1)]
				if want := append(value(p, start+i), '\n'); !bytes.Equal(rec, want) {
					t.Fatalf("%s record %d: %.20q", key, i, rec)
				}
				seen[p][start+i]++
				n++
			}
		}
		for p := range seen {
			for off, c := range seen[p] {
				if c > 1 {
					t.Fatalf("partition %d offset %d written %d times", p, off, c)
				}
			}
		}
		if n == parts*perPart {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d records after the deadline; connector: %s", n, parts*perPart, status(url, "mp"))
		case <-time.After(time.Second):
		}
	}
	l, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("sink")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left behind, e.g. %s", len(l.Uploads), *l.Uploads[0].Key)
	}
	t.Logf("%d records in %d objects exactly once after %d kills mid-upload; no upload left", parts*perPart, parts*perPart/flush, len(left))
}

// status is a connector's status document, for failure messages.
func status(url, name string) string {
	resp, err := http.Get(url + "/connectors/" + name + "/status")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
