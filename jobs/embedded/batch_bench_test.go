package embedded_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
)

// BenchmarkAtomicBatchPublish measures what JetStream's atomic batch
// publish (Nats-Batch-Id, nats-server 2.12+) would give group commit on
// the embedded server: messages per second from 4 publishers, single
// publishes against batches of 8 and 32, with sync_interval always and
// lazy. docs/internals.md ("Group commit") explains why cdnpurge groups
// its flushes instead:
//
//	go test -run '^$' -bench AtomicBatchPublish -benchtime 1x ./jobs/embedded/
func BenchmarkAtomicBatchPublish(b *testing.B) {
	for _, always := range []bool{false, true} {
		for _, size := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("always=%v/batch=%d", always, size), func(b *testing.B) {
				n := jobstest.RunNATSWith(b, embedded.Options{SyncAlways: always, SyncInterval: 2 * time.Minute})
				nc, js := n.Connect()
				if _, err := js.CreateStream(b.Context(), jetstream.StreamConfig{Name: "M", Subjects: []string{"m.>"}, AllowAtomicPublish: true}); err != nil {
					b.Fatal(err)
				}
				const workers, total = 4, 1600
				start := time.Now()
				var wg sync.WaitGroup
				for w := range workers {
					wg.Go(func() {
						for g := range total / workers / size {
							if err := publishGroup(b, nc, js, fmt.Sprintf("b%d-%d-%d", b.N, w, g), size); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				rate := total / time.Since(start).Seconds()
				b.ReportMetric(rate, "msgs/s")
			})
		}
	}
}

// publishGroup stores size messages: one plain publish, or an atomic
// batch whose last message commits it.
func publishGroup(b *testing.B, nc *nats.Conn, js jetstream.JetStream, id string, size int) error {
	for i := 1; i <= size; i++ {
		m := nats.NewMsg("m.x")
		m.Data = make([]byte, 300)
		m.Header.Set(jetstream.MsgIDHeader, id+"-"+strconv.Itoa(i))
		if size == 1 {
			_, err := js.PublishMsg(b.Context(), m)
			return err
		}
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
		if i < size {
			if err := nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		if _, err := nc.RequestMsg(m, 10*time.Second); err != nil {
			return err
		}
	}
	return nil
}
