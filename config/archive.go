package config

import "time"

// validateArchive checks worker.archive_retention: the dead-letter archive
// is a key-value bucket whose TTL must be positive, and shorter than a
// minute would drop jobs before anyone could look at them.
func (c *Config) validateArchive(p *problems) {
	if r := c.Worker.ArchiveRetention; r < time.Minute {
		p.add("worker.archive_retention", "%s: must be at least 1m (a Go duration such as 336h)", r)
	}
}
