package cdnemu

import (
	"sync"
	"time"
)

// Clock is a settable, advanceable clock for tests. Its Now method can be
// passed as Options.Now; all methods are safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads t until it is set or advanced.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, forwards or backwards.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// shanghai is UTC+8. Asia/Shanghai has kept that offset without daylight
// saving since 1991, and a fixed zone needs no tzdata on the host.
var shanghai = time.FixedZone("Asia/Shanghai", 8*60*60)

// shanghaiDay numbers the Asia/Shanghai calendar day holding t; the quota
// resets whenever it changes.
func shanghaiDay(t time.Time) int64 {
	y, m, d := t.In(shanghai).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// nextShanghaiMidnight is the first 00:00 Asia/Shanghai after t, in UTC.
func nextShanghaiMidnight(t time.Time) time.Time {
	y, m, d := t.In(shanghai).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, shanghai).UTC()
}
