package queue

import (
	"errors"
	"fmt"
)

// ErrStoreUnwritable marks a publish refused at once because the store
// behind the queue is known unable to write (a full disk): nothing was
// stored. It comes with ErrUnavailable; producers may name the reason.
var ErrStoreUnwritable = errors.New("job store cannot write")

// storeWritable refuses a publish while PublisherConfig.Writable says
// the store cannot write, instead of letting it wait out its timeout.
func (p *Publisher) storeWritable(id string) error {
	if p.writable == nil {
		return nil
	}
	if err := p.writable(); err != nil {
		return fmt.Errorf("publish job %s: %w: %w: %w", id, ErrStoreUnwritable, ErrUnavailable, err)
	}
	return nil
}
