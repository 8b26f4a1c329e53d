package s3sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/linkedin/goavro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connect/plugin"
	"github.com/sluicehq/sluice/internal/testenv"
)

type nopCtx struct{}

func (nopCtx) Offset(map[string]any) map[string]any { return nil }
func (nopCtx) Bootstrap() []string                  { return nil }
func (nopCtx) Producer() *kgo.Client                { return nil }

func s3Client(m *testenv.MinIO) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.MinIOUser, testenv.MinIOPassword, "")})
}

func setup(t testing.TB) (*testenv.MinIO, *s3.Client, map[string]string) {
	m := testenv.StartMinIO(t)
	cl := s3Client(m)
	if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("sink")}); err != nil {
		t.Fatal(err)
	}
	return m, cl, map[string]string{"name": "s3", "s3.bucket.name": "sink", "store.url": m.Endpoint, "s3.region": "us-east-1",
		"aws.access.key.id": testenv.MinIOUser, "aws.secret.access.key": testenv.MinIOPassword, "flush.size": "3",
		"format.class": "io.confluent.connect.s3.format.json.JsonFormat"}
}

func objects(t testing.TB, cl *s3.Client) map[string][]byte {
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String("sink")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			g, err := cl.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("sink"), Key: o.Key})
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

func keys(m map[string][]byte) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

var orderSchema = &plugin.Schema{Type: plugin.StructT, Name: "shop.Order", Fields: []plugin.Field{
	{Name: "id", Schema: &plugin.Schema{Type: plugin.Int64}},
	{Name: "item", Schema: &plugin.Schema{Type: plugin.String, Optional: true}},
	{Name: "price", Schema: &plugin.Schema{Type: plugin.Float64}},
}}

func orders(topic string, part int32, from, n int) []*plugin.SinkRecord {
	var out []*plugin.SinkRecord
	for i := from; i < from+n; i++ {
		out = append(out, &plugin.SinkRecord{Topic: topic, Partition: part, Offset: int64(i), ValueSchema: orderSchema,
			Value:     plugin.NewStruct(orderSchema).Put("id", int64(i)).Put("item", fmt.Sprint("x", i)).Put("price", float64(i)/2),
			Timestamp: time.UnixMilli(1700000000000 + int64(i)*1000)})
	}
	return out
}

func run(t *testing.T, cfg map[string]string, batches ...[]*plugin.SinkRecord) map[plugin.TopicPartition]int64 {
	t.Helper()
	task := (&connector{}).NewTask()
	if err := task.Start(nopCtx{}, cfg); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	var commit map[plugin.TopicPartition]int64
	for _, b := range batches {
		if err := task.Put(b); err != nil {
			t.Fatal(err)
		}
		task.(*sinkTask).wg.Wait() // background uploads
		off := map[plugin.TopicPartition]int64{}
		for _, r := range b {
			off[plugin.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
		}
		c, err := task.PreCommit(off)
		if err != nil {
			t.Fatal(err)
		}
		commit = c
	}
	return commit
}

func TestJSONKeysAndCommit(t *testing.T) {
	_, cl, cfg := setup(t)
	commit := run(t, cfg, orders("orders", 2, 0, 7))
	if got := commit[plugin.TopicPartition{Topic: "orders", Partition: 2}]; got != 6 {
		t.Fatalf("committed %d, want 6 (two files of 3)", got)
	}
	objs := objects(t, cl)
	want := []string{"topics/orders/partition=2/orders+2+0000000000.json", "topics/orders/partition=2/orders+2+0000000003.json"}
	if got := keys(objs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if s := string(objs[want[1]]); s != "{\"id\":3,\"item\":\"x3\",\"price\":1.5}\n{\"id\":4,\"item\":\"x4\",\"price\":2}\n{\"id\":5,\"item\":\"x5\",\"price\":2.5}\n" {
		t.Fatalf("content %q", s)
	}
}

func TestAvroAndParquetReadable(t *testing.T) {
	_, cl, cfg := setup(t)
	cfg["format.class"] = "AvroFormat"
	cfg["partitioner.class"] = "io.confluent.connect.storage.partitioner.HourlyPartitioner"
	cfg["timezone"] = "UTC"
	cfg["timestamp.extractor"] = "Record"
	run(t, cfg, orders("o", 0, 0, 6))
	cfg["format.class"] = "ParquetFormat"
	cfg["topics.dir"] = "pq"
	run(t, cfg, orders("o", 0, 0, 6))
	objs := objects(t, cl)
	avroKey := "topics/o/year=2023/month=11/day=14/hour=22/o+0+0000000003.avro"
	r, err := goavro.NewOCFReader(bytes.NewReader(objs[avroKey]))
	if err != nil {
		t.Fatalf("%v (keys %v)", err, keys(objs))
	}
	var ids []int64
	for r.Scan() {
		v, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.(map[string]any)["id"].(int64))
	}
	if fmt.Sprint(ids) != "[3 4 5]" {
		t.Fatalf("avro ids %v", ids)
	}
	pqKey := "pq/o/year=2023/month=11/day=14/hour=22/o+0+0000000000.snappy.parquet"
	type row struct {
		ID    int64   `parquet:"id"`
		Item  *string `parquet:"item,optional"`
		Price float64 `parquet:"price"`
	}
	rows, err := parquet.Read[row](bytes.NewReader(objs[pqKey]), int64(len(objs[pqKey])))
	if err != nil {
		t.Fatalf("%v (keys %v)", err, keys(objs))
	}
	if len(rows) != 3 || rows[2].ID != 2 || *rows[2].Item != "x2" || rows[2].Price != 1 {
		t.Fatalf("parquet rows %+v", rows)
	}
}

// A replay under wall-clock rotation cuts where the first attempt cut: the
// second task finds the first object and never writes an offset twice.
func TestConditionalReplay(t *testing.T) {
	_, cl, cfg := setup(t)
	cfg["flush.size"] = "100"
	cfg["rotate.schedule.interval.ms"] = "3600000"
	cfg["s3.conditional.writes"] = "true"
	task := (&connector{}).NewTask().(*sinkTask)
	if err := task.Start(nopCtx{}, cfg); err != nil {
		t.Fatal(err)
	}
	if err := task.Put(orders("t", 0, 0, 4)); err != nil {
		t.Fatal(err)
	}
	task.mu.Lock()
	if err := task.rotate(context.Background(), task.writers[plugin.TopicPartition{Topic: "t"}]); err != nil {
		t.Fatal(err)
	}
	task.mu.Unlock()
	task.Stop()
	// The replay gets more records at once; it must cut after offset 3.
	commit := run(t, cfg, orders("t", 0, 0, 6))
	if got := commit[plugin.TopicPartition{Topic: "t"}]; got != 4 {
		t.Fatalf("committed %d, want 4", got)
	}
	objs := objects(t, cl)
	if got := keys(objs); len(got) != 1 || strings.Count(string(objs[got[0]]), "\n") != 4 {
		t.Fatalf("objects %v", got)
	}
	var v map[string]any
	if err := json.Unmarshal(bytes.Split(objs[keys(objs)[0]], []byte("\n"))[3], &v); err != nil || v["id"] != float64(3) {
		t.Fatalf("last line %v %v", v, err)
	}
}

func TestMultipartAndGzip(t *testing.T) {
	_, cl, cfg := setup(t)
	cfg["flush.size"] = "40000"
	cfg["s3.part.size"] = "5242880"
	cfg["s3.conditional.writes"] = "true"
	cfg["format.class"] = "ByteArrayFormat"
	var recs []*plugin.SinkRecord
	for i := 0; i < 40000; i++ {
		recs = append(recs, &plugin.SinkRecord{Topic: "b", Offset: int64(i), Value: bytes.Repeat([]byte{'a' + byte(i%26)}, 299)})
	}
	run(t, cfg, recs)
	objs := objects(t, cl)
	b := objs["topics/b/partition=0/b+0+0000000000.bin"]
	if len(b) != 40000*300 {
		t.Fatalf("object size %d (keys %v)", len(b), keys(objs))
	}
}

func TestBadBucket(t *testing.T) {
	_, _, cfg := setup(t)
	cfg["s3.bucket.name"] = "missing"
	err := (&connector{}).NewTask().Start(nopCtx{}, cfg)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err %v", err)
	}
}

// A task about to write a partition aborts the multipart uploads that
// earlier writers left for that partition's files, and only those; an
// upload aborted under its writer is reported as errUploadGone.
func TestAbortDanglingUploads(t *testing.T) {
	_, cl, cfg := setup(t)
	ctx := context.Background()
	start := func(key string) *string {
		mp, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("sink"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("sink"), Key: aws.String(key), UploadId: mp.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("part")}); err != nil {
			t.Fatal(err)
		}
		return mp.UploadId
	}
	start("topics/orders/partition=1/orders+1+0000000000.json")
	start("topics/orders/partition=1/orders+1+0000000003.json")
	start("topics/orders/partition=10/orders+10+0000000000.json") // another partition
	start("other/orders/partition=1/orders+1+0000000000.json")    // another connector's directory
	run(t, cfg, orders("orders", 1, 0, 3))
	l, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("sink")})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, u := range l.Uploads {
		left = append(left, *u.Key)
	}
	sort.Strings(left)
	if want := "other/orders/partition=1/orders+1+0000000000.json,topics/orders/partition=10/orders+10+0000000000.json"; strings.Join(left, ",") != want {
		t.Fatalf("uploads left %v", left)
	}
	if got := keys(objects(t, cl)); len(got) != 1 || got[0] != "topics/orders/partition=1/orders+1+0000000000.json" {
		t.Fatalf("objects %v", got)
	}

	// A writer whose upload was aborted by the partition's next owner
	// learns that it lost the partition.
	key := "topics/orders/partition=2/orders+2+0000000000.json"
	id := start(key)
	if _, err := cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("sink"), Key: aws.String(key), UploadId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("sink"), Key: aws.String(key), UploadId: id,
		PartNumber: aws.Int32(2), Body: strings.NewReader("part")})
	if !errors.Is(gone(err), errUploadGone) {
		t.Fatalf("part of an aborted upload: %v", err)
	}
}
