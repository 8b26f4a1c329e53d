package s3sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// endMeta is the user metadata key holding the last Kafka offset of the
// rotation an object belongs to, so a replay can cut its files where the
// first writer did.
const endMeta = "kafka-end-offset"

// ErrExists is returned by put when a conditional write finds the key taken.
var ErrExists = errors.New("s3sink: object already exists")

// errUploadGone is returned by put when its multipart upload was aborted
// under it: the partition's new owner cleans up (see abortDangling), so
// this task no longer owns the partition.
var errUploadGone = errors.New("s3sink: multipart upload aborted by another writer")

type store struct {
	cl          *s3.Client
	bucket      string
	partSize    int
	conditional bool
}

func newStore(ctx context.Context, s *settings) (*store, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(s.region)}
	if s.accessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	cl := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.endpoint != "" {
			o.BaseEndpoint = aws.String(s.endpoint)
		}
		o.UsePathStyle = s.pathStyle
		o.RetryMaxAttempts = 3
	})
	return &store{cl: cl, bucket: s.bucket, partSize: s.partSize, conditional: s.conditionalWrites()}, nil
}

// check makes sure the bucket is there and reachable with these
// credentials, so a bad setting fails the task at start with a clear trace.
func (st *store) check(ctx context.Context) error {
	if _, err := st.cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &st.bucket}); err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchBucket") {
			return fmt.Errorf("the bucket %s does not exist: %w", st.bucket, err)
		}
		return fmt.Errorf("checking bucket %s: %w", st.bucket, err)
	}
	return nil
}

// endOffset returns the rotation end recorded on an existing object, or
// -1 when there is no object at key.
func (st *store) endOffset(ctx context.Context, key string) (int64, error) {
	out, err := st.cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &st.bucket, Key: &key})
	if err != nil {
		var nf *types.NotFound
		var ae smithy.APIError
		if errors.As(err, &nf) || (errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey")) {
			return -1, nil
		}
		return 0, fmt.Errorf("HEAD %s: %w", key, err)
	}
	v, ok := out.Metadata[endMeta]
	if !ok {
		return 0, fmt.Errorf("object %s exists without %s metadata; it was not written by this connector", key, endMeta)
	}
	return strconv.ParseInt(v, 10, 64)
}

// put writes one object: a single PUT when it fits in a part, else a
// multipart upload whose parts go up now and which is completed last, so
// the object appears whole or not at all. With conditional writes a key
// that exists already gives ErrExists.
func (st *store) put(ctx context.Context, key string, body []byte, end int64) error {
	meta := map[string]string{endMeta: strconv.FormatInt(end, 10)}
	var ifNone *string
	if st.conditional {
		ifNone = aws.String("*")
	}
	if len(body) <= st.partSize {
		_, err := st.cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &st.bucket, Key: &key, Body: bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))), Metadata: meta, IfNoneMatch: ifNone})
		return st.classify(key, err)
	}
	mp, err := st.cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &st.bucket, Key: &key, Metadata: meta})
	if err != nil {
		return fmt.Errorf("starting multipart upload of %s: %w", key, err)
	}
	abort := func() {
		actx := context.WithoutCancel(ctx)
		_, _ = st.cl.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &st.bucket, Key: &key, UploadId: mp.UploadId})
	}
	var parts []types.CompletedPart
	for off, n := 0, int32(1); off < len(body); n++ {
		end := min(off+st.partSize, len(body))
		// The last part takes the remainder rather than leaving a runt.
		if len(body)-end < minPartSize {
			end = len(body)
		}
		up, err := st.cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &st.bucket, Key: &key, UploadId: mp.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(body[off:end]), ContentLength: aws.Int64(int64(end - off))})
		if err != nil {
			abort()
			return fmt.Errorf("uploading part %d of %s: %w", n, key, gone(err))
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(n)})
		off = end
	}
	_, err = st.cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &st.bucket, Key: &key, UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, IfNoneMatch: ifNone})
	if err != nil {
		abort()
	}
	return st.classify(key, gone(err))
}

// gone marks the error of a part or completion whose upload was aborted.
func gone(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload" {
		return fmt.Errorf("%w: %w", errUploadGone, err)
	}
	return err
}

// abortDangling aborts the incomplete multipart uploads of the objects
// under prefix whose names start with file (one Kafka partition's files).
// A task calls it before it first writes a partition: an upload left by a
// killed worker would otherwise stay (and be billed) until a lifecycle
// rule removes it, and one still running in a task that lost the
// partition is no longer wanted.
func (st *store) abortDangling(ctx context.Context, prefix, delim, file string) (int, error) {
	n := 0
	// No Prefix in the request: MinIO lists uploads only for an empty
	// prefix or a whole object name, so the filter is ours.
	in := &s3.ListMultipartUploadsInput{Bucket: &st.bucket}
	for {
		out, err := st.cl.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("listing multipart uploads under %s: %w", prefix, err)
		}
		for _, u := range out.Uploads {
			key := aws.ToString(u.Key)
			if !strings.HasPrefix(key, prefix) || !strings.HasPrefix(key[strings.LastIndex(key, delim)+1:], file) {
				continue
			}
			_, err := st.cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &st.bucket, Key: u.Key, UploadId: u.UploadId})
			var ae smithy.APIError
			if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload") {
				return n, fmt.Errorf("aborting multipart upload of %s: %w", key, err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func (st *store) classify(key string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return fmt.Errorf("%s: %w", key, ErrExists)
	}
	return fmt.Errorf("writing %s to bucket %s: %w", key, st.bucket, err)
}
