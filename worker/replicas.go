package worker

import (
	"context"
	"sort"
	"time"
)

// replicaPrefix keys each replica's heartbeat in the control bucket.
const replicaPrefix = "replica."

// replicaFresh is how recent a heartbeat must be for its replica to count
// as running.
const replicaFresh = 30 * time.Second

// Replica is one serve process as the others see it.
type Replica struct {
	Name    string    `json:"name"`
	Version string    `json:"version,omitempty"`
	Roles   []string  `json:"roles,omitempty"`
	Started time.Time `json:"started_at"`
	Seen    time.Time `json:"seen_at"`
	Paused  string    `json:"paused,omitempty"`
}

// Heartbeat records that replica r runs (every few seconds, by serve).
func (c *Control) Heartbeat(ctx context.Context, r Replica) error {
	return c.putJSON(ctx, replicaPrefix+keyID(r.Name), r)
}

// Gone removes the heartbeat of a replica that stops.
func (c *Control) Gone(ctx context.Context, name string) error {
	return c.kv.Purge(ctx, replicaPrefix+keyID(name))
}

// Replicas lists the replicas seen within the last 30 seconds, by name.
func (c *Control) Replicas(ctx context.Context, now time.Time) ([]Replica, error) {
	keys, err := c.keys(ctx, replicaPrefix+"*")
	if err != nil {
		return nil, err
	}
	var out []Replica
	for _, k := range keys {
		var r Replica
		if ok, err := c.getJSON(ctx, k, &r); err == nil && ok && now.Sub(r.Seen) < replicaFresh {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
