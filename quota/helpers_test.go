package quota

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota/quotatest"
)

const redisAddr = quotatest.RedisAddr

// fakeClock is an injected clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// newClock starts at 12:00 Asia/Shanghai of the real current day, so that
// Redis key expiries computed from it are in the real future.
func newClock() *fakeClock {
	c := Calendar{}
	return &fakeClock{now: c.StartOfDay(time.Now()).Add(12 * time.Hour)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func redisClient(tb testing.TB) *redis.Client { return quotatest.Redis(tb) }

func testPrefix(tb testing.TB, c *redis.Client) string { return quotatest.Prefix(tb, c) }

// quotaOf is an API answer with remain left of every kind.
func quotaOf(total, remain int64) apiclient.RefreshQuota {
	return apiclient.RefreshQuota{
		URLQuota: total, URLRemain: remain, DirQuota: total, DirRemain: remain,
		RegexQuota: total, RegexRemain: remain, PreloadQuota: total, PreloadRemain: remain,
	}
}

// fakeSource is a DescribeRefreshQuota that tests steer.
type fakeSource struct {
	mu    sync.Mutex
	q     apiclient.RefreshQuota
	err   error
	calls int
	block chan struct{} // when set, calls wait for it
	first chan struct{} // closed by the first call (firstCall)
}

// firstCall returns a channel closed once the source was asked.
func (f *fakeSource) firstCall() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		f.first = make(chan struct{})
		if f.calls > 0 {
			close(f.first)
		}
	}
	return f.first
}

func (f *fakeSource) DescribeQuota(ctx context.Context, tg apiclient.Target) (apiclient.RefreshQuota, error) {
	f.mu.Lock()
	f.calls++
	if f.calls == 1 && f.first != nil {
		close(f.first)
	}
	q, err, block := f.q, f.err, f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return apiclient.RefreshQuota{}, ctx.Err()
		}
	}
	return q, err
}

func (f *fakeSource) set(q apiclient.RefreshQuota, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.q, f.err = q, err
}

func (f *fakeSource) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// tcpProxy forwards to Redis and can be cut and restored, to test outages
// without touching the real server.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.Cut() })
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every connection and refuses new ones.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore accepts connections again.
func (p *tcpProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func mustErrIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
