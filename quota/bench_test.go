package quota

import (
	"context"
	"testing"
	"time"
)

// BenchmarkReserve measures reservations per second (each one committed,
// as the worker does) in memory and against the real Redis, from one
// goroutine and from GOMAXPROCS goroutines.
func BenchmarkReserve(b *testing.B) {
	stores := map[string]func(b *testing.B) Store{
		"memory": func(b *testing.B) Store { return NewMemoryStore(Options{}) },
		"redis": func(b *testing.B) Store {
			c := redisClient(b)
			return NewRedisStore(c, Options{Prefix: testPrefix(b, c)})
		},
	}
	for _, name := range []string{"memory", "redis"} {
		for _, parallel := range []bool{false, true} {
			mode := "single"
			if parallel {
				mode = "parallel"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				ctx := context.Background()
				s := stores[name](b)
				if err := s.Set(ctx, quotaOf(1<<50, 1<<50), SyncMark{}); err != nil {
					b.Fatal(err)
				}
				one := func() {
					r, err := s.Reserve(ctx, KindURL, 100)
					if err != nil || r.Granted != 100 {
						b.Fatalf("reserve: %+v %v", r, err)
					}
					if err := s.Commit(ctx, r, 100); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				b.ResetTimer()
				if parallel {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							one()
						}
					})
				} else {
					for b.Loop() {
						one()
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reservations/s")
			})
		}
	}
}
