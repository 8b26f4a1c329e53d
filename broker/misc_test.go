package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

func deleteByID(id [16]byte) *kmsg.DeleteTopicsRequest {
	req := kmsg.NewPtrDeleteTopicsRequest()
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.TopicID = id
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 10000
	return req
}

func kversionsPinned(k kmsg.Key, v int16) *kversion.Versions {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(k), v)
	return vs
}

func adminOf(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }
