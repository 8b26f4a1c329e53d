package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register(func() *cobra.Command {
		var (
			cf        clientFlags
			keySep    string
			headers   []string
			partition int32
			acks      string
			compress  string
		)
		cmd := &cobra.Command{
			Use:   "produce TOPIC",
			Short: "Produce records to a topic, one per line read from stdin",
			Long: `Produce records to a topic, one per line read from stdin.

With --key-separator, each line is split at the first separator into key and
value; a line without the separator is a value with a null key. The number of
records produced is reported on stderr; stdout stays empty. The command
stops at the first record the cluster rejects.`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts, err := producerOpts(acks, compress, cmd.Flags().Changed("partition"))
				if err != nil {
					return err
				}
				hdrs, err := parseHeaders(headers)
				if err != nil {
					return err
				}
				if cf.requestTimeout > 0 {
					// An unanswered record fails instead of hanging the command.
					opts = append(opts, kgo.RecordDeliveryTimeout(3*cf.requestTimeout))
				}
				cl, err := cf.connect(cmd.Context(), opts...)
				if err != nil {
					return err
				}
				defer cl.Close()
				p := linesProducer{topic: args[0], keySep: keySep, headers: hdrs,
					partition: partition, manual: cmd.Flags().Changed("partition")}
				n, err := p.run(cmd.Context(), cl, cmd.InOrStdin())
				if err != nil {
					// One line: the failure, with how far it got.
					return fmt.Errorf("%w (%d records acknowledged before)", err, n)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "produced %d records to %s\n", n, args[0])
				return nil
			},
		}
		cf.add(cmd, false)
		f := cmd.Flags()
		f.StringVar(&keySep, "key-separator", "", "split each line into key and value at the first occurrence of this string")
		f.StringArrayVar(&headers, "header", nil, "record header key=value added to every record (repeatable)")
		f.Int32Var(&partition, "partition", -1, "produce to this partition (default: partition by key hash)")
		f.StringVar(&acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
		f.StringVar(&compress, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
		return cmd
	})
}

func producerOpts(acks, compression string, manual bool) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("bad --acks %q: want all, 1 or 0", acks)
	}
	var c kgo.CompressionCodec
	switch compression {
	case "none", "":
		c = kgo.NoCompression()
	case "gzip":
		c = kgo.GzipCompression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "lz4":
		c = kgo.Lz4Compression()
	case "zstd":
		c = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("bad --compression %q: want none, gzip, snappy, lz4 or zstd", compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(c))
	if manual {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return opts, nil
}

func parseHeaders(kvs []string) ([]kgo.RecordHeader, error) {
	var hs []kgo.RecordHeader
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad --header %q: want key=value", kv)
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return hs, nil
}

// linesProducer turns input lines into records.
type linesProducer struct {
	topic     string
	keySep    string
	headers   []kgo.RecordHeader
	partition int32
	manual    bool
}

func (p *linesProducer) record(line string) *kgo.Record {
	r := &kgo.Record{Topic: p.topic, Headers: p.headers}
	if p.manual {
		r.Partition = p.partition
	}
	if p.keySep != "" {
		if k, v, ok := strings.Cut(line, p.keySep); ok {
			r.Key, r.Value = []byte(k), []byte(v)
			return r
		}
	}
	r.Value = []byte(line)
	return r
}

// run produces every line of in and waits for all to be acknowledged. It
// returns how many were acknowledged and the first failure; after a failure
// it stops reading input.
func (p *linesProducer) run(ctx context.Context, cl *kgo.Client, in io.Reader) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		acked int
		first error
	)
	done := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			acked++
			return
		}
		if first == nil {
			first = err
			cancel()
		}
	}
	br := bufio.NewReaderSize(in, 64<<10)
	var readErr error
	for ctx.Err() == nil {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			cl.Produce(ctx, p.record(line), done)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("read stdin: %w", err)
			}
			break
		}
	}
	// Flush returns early only if ctx ends; the records still in flight then
	// fail through done.
	_ = cl.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case first != nil:
		return acked, fmt.Errorf("produce to %q: %w", p.topic, first)
	case readErr != nil:
		return acked, readErr
	}
	return acked, ctx.Err()
}
