package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce v3-13 (v3 is the first with record batches, magic v2): acks 0, 1
// and -1, any number of partitions, per-partition errors, topic ids (v13+).
// Batches are validated and appended by storage as they came (max.message.bytes,
// CRC, idempotent sequences: a duplicate gets the original offsets, a gap
// OUT_OF_ORDER_SEQUENCE_NUMBER). acks=0 gets no response.
func init() { register(kmsg.Produce, 3, 13, handleProduce) }

func handleProduce(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, known := rt.Topic, false
		if req.Version >= 13 {
			if t, ok := s.b.TopicByID(rt.TopicID); ok {
				name, known = t.Name, true
			}
		} else {
			_, known = s.b.Topic(name)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			var err error
			switch {
			case badAcks:
				err = fmt.Errorf("%w: acks must be -1, 0 or 1, not %d", kerr.InvalidRequiredAcks, req.Acks)
			case !known && req.Version >= 13:
				err = kerr.UnknownTopicID
			case !known:
				err = kerr.UnknownTopicOrPartition
			case req.TransactionID != nil:
				// No transaction coordinator yet: refuse rather than write
				// records no one can commit or abort.
				err = fmt.Errorf("%w: transactions are not supported yet", kerr.TransactionalIDAuthorizationFailed)
			default:
				actx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
				res, aerr := s.b.Append(actx, name, rp.Partition, rp.Records, req.Acks)
				cancel()
				if aerr == nil {
					sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
					if !res.Duplicate {
						s.m.produced(name, len(rp.Records), countRecords(rp.Records))
					}
				}
				err = aerr
			}
			if err != nil {
				sp.ErrorCode = errCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errMsg(err)
				}
				if sp.ErrorCode != kerr.UnknownTopicOrPartition.Code && sp.ErrorCode != kerr.UnknownTopicID.Code {
					s.log.Debug("produce failed", "topic", name, "partition", rp.Partition, "err", err)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		// No response: as Kafka does, close the connection on a failure so
		// the producer notices (and refreshes its metadata).
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return nil, fmt.Errorf("acks=0 produce failed: %s", kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
		return nil, nil
	}
	return resp, nil
}
