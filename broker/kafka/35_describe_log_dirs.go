package kafka

import (
	"context"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs v0-5: the one log directory, with partition sizes and,
// v4+, total and usable bytes of its file system.
func init() { register(kmsg.DescribeLogDirs, 0, 5, handleDescribeLogDirs) }

func handleDescribeLogDirs(ctx context.Context, s *Server, rc *reqCtx, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.b.LogDir()
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var st syscall.Statfs_t
	if syscall.Statfs(dir.Dir, &st) == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	}
	want := map[string]map[int32]bool{}
	for _, t := range req.Topics {
		want[t.Topic] = map[int32]bool{}
		for _, p := range t.Partitions {
			want[t.Topic][p] = true
		}
	}
	for _, t := range s.b.Topics() {
		if req.Topics != nil && want[t.Name] == nil {
			continue
		}
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.Name
		for _, p := range t.Partitions {
			if req.Topics != nil && !want[t.Name][p.ID] {
				continue
			}
			l := s.b.Log(t.Name, p.ID)
			if l == nil {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = p.ID, l.Size()
			dt.Partitions = append(dt.Partitions, dp)
		}
		dir.Topics = append(dir.Topics, dt)
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return resp, nil
}
