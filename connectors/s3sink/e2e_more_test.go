package s3sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/linkedin/goavro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

type rig struct {
	t      *testing.T
	ctx    context.Context
	broker string
	minio  *testenv.MinIO
	s3     *s3.Client
	kafka  *kgo.Client
	url    string
}

func newRig(t *testing.T, ctx context.Context) *rig {
	b := testenv.StartBroker(t)
	m := testenv.StartMinIO(t)
	r := &rig{t: t, ctx: ctx, broker: b.Addr, minio: m,
		s3: s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(testenv.MinIOUser, testenv.MinIOPassword, "")})}
	var err error
	if r.kafka, err = kgo.NewClient(kgo.SeedBrokers(b.Addr)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.kafka.Close)
	_, r.url = testenv.StartConnectWorker(t, b.Addr, "s3-more")
	return r
}

func (r *rig) bucket(name string) {
	if _, err := r.s3.CreateBucket(r.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) produce(topic string, values ...string) {
	if _, err := kadm.NewClient(r.kafka).CreateTopic(r.ctx, 1, 1, nil, topic); err != nil {
		r.t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	if err := r.kafka.ProduceSync(r.ctx, recs...).FirstErr(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) call(method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(r.ctx, method, r.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (r *rig) config(extra map[string]string) map[string]string {
	c := map[string]string{"connector.class": "S3SinkConnector", "tasks.max": "1",
		"s3.bucket.name": "sink", "store.url": r.minio.Endpoint, "s3.region": "us-east-1",
		"aws.access.key.id": testenv.MinIOUser, "aws.secret.access.key": testenv.MinIOPassword,
		"format.class": "JsonFormat", "flush.size": "10",
		"value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false"}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func (r *rig) create(name string, cfg map[string]string) {
	for {
		code, b := r.call("POST", "/connectors", map[string]any{"name": name, "config": cfg})
		switch {
		case code == http.StatusCreated:
			return
		case code == http.StatusConflict && strings.Contains(string(b), "leader") && r.ctx.Err() == nil:
			time.Sleep(200 * time.Millisecond) // the worker is still joining its group
		default:
			r.t.Fatalf("create %s: %d %s", name, code, b)
		}
	}
}

// taskState waits until task 0 of c is in state and returns its trace.
func (r *rig) taskState(c, state string) string {
	for {
		_, b := r.call("GET", "/connectors/"+c+"/status", nil)
		var st struct {
			Tasks []struct{ State, Trace string }
		}
		_ = json.Unmarshal(b, &st)
		if len(st.Tasks) > 0 && st.Tasks[0].State == state {
			return st.Tasks[0].Trace
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("connector %s never reached %s: %s", c, state, b)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitObjects waits for n objects under prefix and returns them.
func (r *rig) waitObjects(bucket, prefix string, n int) map[string][]byte {
	for {
		out := map[string][]byte{}
		l, err := r.s3.ListObjectsV2(r.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		if err == nil {
			for _, o := range l.Contents {
				g, err := r.s3.GetObject(r.ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
				if err != nil {
					r.t.Fatal(err)
				}
				b, _ := io.ReadAll(g.Body)
				g.Body.Close()
				out[*o.Key] = b
			}
		}
		if len(out) >= n {
			return out
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%d of %d objects under %s/%s", len(out), n, bucket, prefix)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// TestFormatsThroughWorker writes schema'd JSON records (JsonConverter with
// schemas.enable) as Avro and Parquet through a worker process and reads
// the files back with goavro's OCF reader and parquet-go.
func TestFormatsThroughWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newRig(t, ctx)
	r.bucket("sink")
	var vals []string
	for i := 0; i < 20; i++ {
		vals = append(vals, fmt.Sprintf(`{"schema":{"type":"struct","name":"shop.Order","optional":false,"fields":[`+
			`{"field":"id","type":"int64","optional":false},{"field":"item","type":"string","optional":true}]},`+
			`"payload":{"id":%d,"item":"thing %d"}}`, i, i))
	}
	r.produce("typed", vals...)
	for _, f := range []string{"AvroFormat", "ParquetFormat"} {
		r.create(strings.ToLower(f), r.config(map[string]string{"topics": "typed", "format.class": f,
			"topics.dir": strings.ToLower(f), "value.converter.schemas.enable": "true"}))
	}
	avro := r.waitObjects("sink", "avroformat/", 2)
	for key, b := range avro {
		rd, err := goavro.NewOCFReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		n := 0
		for rd.Scan() {
			v, err := rd.Read()
			if err != nil {
				t.Fatal(err)
			}
			n++
			if _, ok := v.(map[string]any)["id"].(int64); !ok {
				t.Fatalf("%s: record %v", key, v)
			}
		}
		if n != 10 || !strings.Contains(rd.Codec().Schema(), "shop.Order") && !strings.Contains(rd.Codec().Schema(), `"Order"`) {
			t.Fatalf("%s: %d records, schema %s", key, n, rd.Codec().Schema())
		}
	}
	pq := r.waitObjects("sink", "parquetformat/", 2)
	type row struct {
		ID   int64   `parquet:"id"`
		Item *string `parquet:"item,optional"`
	}
	for key, b := range pq {
		rows, err := parquet.Read[row](bytes.NewReader(b), int64(len(b)))
		if err != nil || len(rows) != 10 || *rows[9].Item != fmt.Sprint("thing ", rows[9].ID) {
			t.Fatalf("%s: %v %+v", key, err, rows)
		}
	}
}

// TestBadInputThroughWorker: a missing bucket, wrong credentials and an
// unreachable endpoint fail the task with a clear trace; each recovers
// once fixed (restart with includeTasks, or a corrected config); a record
// that cannot be partitioned goes to the dead letter queue under
// errors.tolerance=all.
func TestBadInputThroughWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newRig(t, ctx)
	var vals []string
	for i := 0; i < 10; i++ {
		vals = append(vals, fmt.Sprintf(`{"id":%d,"region":"eu"}`, i))
	}
	r.produce("in", vals...)

	r.create("nobucket", r.config(map[string]string{"topics": "in", "s3.bucket.name": "later"}))
	if tr := r.taskState("nobucket", "FAILED"); !strings.Contains(tr, "bucket later does not exist") {
		t.Fatalf("trace %q", tr)
	}
	r.bucket("later")
	if code, b := r.call("POST", "/connectors/nobucket/restart?includeTasks=true", nil); code != http.StatusAccepted {
		t.Fatalf("restart: %d %s", code, b)
	}
	r.waitObjects("later", "topics/in/", 1)

	r.bucket("sink")
	bad := r.config(map[string]string{"topics": "in", "aws.secret.access.key": "wrong", "topics.dir": "creds"})
	r.create("creds", bad)
	if tr := r.taskState("creds", "FAILED"); !strings.Contains(tr, "403") {
		t.Fatalf("trace %q", tr)
	}
	if code, b := r.call("PUT", "/connectors/creds/config", r.config(map[string]string{"topics": "in", "topics.dir": "creds"})); code != http.StatusOK {
		t.Fatalf("fix: %d %s", code, b)
	}
	r.waitObjects("sink", "creds/", 1)

	r.create("unreach", r.config(map[string]string{"topics": "in", "store.url": "http://127.0.0.1:1", "topics.dir": "unreach"}))
	if tr := r.taskState("unreach", "FAILED"); !strings.Contains(tr, "connection refused") {
		t.Fatalf("trace %q", tr)
	}
	if code, b := r.call("PUT", "/connectors/unreach/config", r.config(map[string]string{"topics": "in", "topics.dir": "unreach"})); code != http.StatusOK {
		t.Fatalf("fix: %d %s", code, b)
	}
	r.waitObjects("sink", "unreach/", 1)

	// Field partitioning on a field one record lacks.
	r.produce("mixed", `{"id":1,"region":"eu"}`, `{"id":2}`, `{"id":3,"region":"us"}`)
	field := map[string]string{"topics": "mixed", "topics.dir": "field", "flush.size": "1",
		"partitioner.class": "FieldPartitioner", "partition.field.name": "region"}
	r.create("strict", r.config(field))
	if tr := r.taskState("strict", "FAILED"); !strings.Contains(tr, "field region not found") {
		t.Fatalf("trace %q", tr)
	}
	field["errors.tolerance"] = "all"
	field["errors.deadletterqueue.topic.name"] = "dlq"
	field["errors.deadletterqueue.context.headers.enable"] = "true"
	field["topics.dir"] = "tolerant"
	if _, err := kadm.NewClient(r.kafka).CreateTopic(ctx, 1, 1, nil, "dlq"); err != nil {
		t.Fatal(err)
	}
	r.create("tolerant", r.config(field))
	objs := r.waitObjects("sink", "tolerant/", 2)
	if _, ok := objs["tolerant/mixed/region=us/mixed+0+0000000002.json"]; !ok {
		t.Fatalf("objects %v", objs)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker), kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || !strings.Contains(string(recs[0].Value), `"id":2`) {
		t.Fatalf("dlq %v %v", recs, fs.Errors())
	} else {
		h := map[string]string{}
		for _, x := range recs[0].Headers {
			h[x.Key] = string(x.Value)
		}
		if h["__connect.errors.offset"] != "1" || !strings.Contains(h["__connect.errors.exception.message"], "region") {
			t.Fatalf("dlq headers %v", h)
		}
	}
}
