package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// In a cluster each __consumer_offsets partition's leader coordinates the
// groups that partition holds (Kafka's GroupMetadataManager): when this node
// becomes a partition's leader the broker calls LoadPartition, when it stops
// being its leader UnloadPartition.

// LoadPartition replays partition p of __consumer_offsets: the groups it
// holds come back with their latest metadata and committed offsets; what
// was in memory of them (from an earlier leadership) is dropped first.
func (c *Coordinator) LoadPartition(ctx context.Context, p int32) error {
	c.UnloadPartition(p)
	if err := c.loadPartition(ctx, p, c.now()); err != nil {
		return err
	}
	c.log.Debug("loaded consumer groups of a partition", "partition", p)
	return nil
}

// UnloadPartition forgets the groups partition p holds; members waiting in
// a JoinGroup or SyncGroup are answered NOT_COORDINATOR, so they find the
// new coordinator.
func (c *Coordinator) UnloadPartition(p int32) {
	var drop []*group
	c.mu.Lock()
	for id, g := range c.groups {
		if c.PartitionFor(id) == p {
			drop = append(drop, g)
			delete(c.groups, id)
		}
	}
	c.mu.Unlock()
	now := c.now()
	for _, g := range drop {
		g.mu.Lock()
		for id, ch := range g.joinW {
			delete(g.joinW, id)
			ch <- joinError(id, kerr.NotCoordinator)
		}
		for id, ch := range g.syncW {
			delete(g.syncW, id)
			ch <- syncError(kerr.NotCoordinator)
		}
		g.transition(stateDead, now)
		g.mu.Unlock()
	}
	if len(drop) > 0 {
		c.log.Info("unloaded consumer groups of a partition", "partition", p, "groups", len(drop))
	}
}
