package group

import (
	"context"
	"testing"
)

// FuzzLoad feeds arbitrary __consumer_offsets records to Load: corrupt or
// foreign records are skipped, never a crash.
func FuzzLoad(f *testing.F) {
	f.Add(offsetKey("g", "t", 0), offsetValue(committed{offset: 1, expireTime: -1}))
	f.Add(groupKey("g"), []byte{0, 3, 0, 8, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', 0, 0, 0, 1})
	f.Add([]byte{0, 2}, []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s := newMemStore()
		s.parts[0] = []KV{{Key: key, Value: value}}
		c := New(Config{Store: s, Partitions: 1})
		if err := c.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, g := range c.snapshot() {
			c.CommittedOffsets(g.id)
			g.mu.Lock()
			g.tick(c.now())
			g.mu.Unlock()
		}
	})
}
