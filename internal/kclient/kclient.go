// Package kclient builds franz-go clients (kgo for records, kadm for
// administration) from the connection settings every Sluice client command
// shares, so that all commands reach a cluster, and fail to, the same way.
package kclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultPort is the Kafka port assumed for a seed given without one.
const DefaultPort = "9092"

// Config holds the settings shared by every client command.
// TLS and SASL settings will join these fields.
type Config struct {
	// Seeds are the bootstrap brokers, host:port each.
	Seeds []string
	// ClientID is sent in every request; empty means "sluice".
	ClientID string
	// DialTimeout bounds one connection attempt; zero means kgo's default.
	DialTimeout time.Duration
	// RequestTimeout bounds reaching the cluster (see Connect) and, for
	// requests the client retries, the total time spent retrying.
	// Zero means no bound beyond the caller's context.
	RequestTimeout time.Duration
}

// ErrUnreachable is wrapped by Connect when no seed broker answered.
var ErrUnreachable = errors.New("cannot reach Kafka cluster")

// ParseSeeds splits a comma-separated bootstrap list, adding the default
// port where a seed has none.
func ParseSeeds(list string) ([]string, error) {
	var seeds []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			// A bare host (or bracketless IPv6 literal) gets the default port.
			if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
				s = net.JoinHostPort(s, DefaultPort)
			} else if !strings.Contains(s, ":") {
				s = net.JoinHostPort(s, DefaultPort)
			} else {
				return nil, fmt.Errorf("bad bootstrap address %q: %v", s, err)
			}
		}
		seeds = append(seeds, s)
	}
	if len(seeds) == 0 {
		return nil, errors.New("no bootstrap address given")
	}
	return seeds, nil
}

// Opts returns the kgo options for c; callers append their own (producer
// or consumer settings) after these.
func (c Config) Opts() []kgo.Opt {
	id := c.ClientID
	if id == "" {
		id = "sluice"
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Seeds...), kgo.ClientID(id)}
	if c.DialTimeout > 0 {
		opts = append(opts, kgo.DialTimeout(c.DialTimeout))
	}
	if c.RequestTimeout > 0 {
		opts = append(opts, kgo.RetryTimeout(c.RequestTimeout))
	}
	return opts
}

// Connect builds a client from c plus extra options and checks that some
// seed broker answers before returning it, so that an unreachable cluster
// is reported at once instead of as a hang. The caller closes the client.
func Connect(ctx context.Context, c Config, extra ...kgo.Opt) (*kgo.Client, error) {
	if len(c.Seeds) == 0 {
		return nil, errors.New("no bootstrap address given")
	}
	cl, err := kgo.NewClient(append(c.Opts(), extra...)...)
	if err != nil {
		return nil, err
	}
	pctx := ctx
	if c.RequestTimeout > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, c.RequestTimeout)
		defer cancel()
	}
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if pctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", c.RequestTimeout)
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, strings.Join(c.Seeds, ","), err)
	}
	return cl, nil
}

// ConnectAdmin is Connect wrapped in an admin client; closing the admin
// client closes the underlying kgo client.
func ConnectAdmin(ctx context.Context, c Config, extra ...kgo.Opt) (*kadm.Client, error) {
	cl, err := Connect(ctx, c, extra...)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}
