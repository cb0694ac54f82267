package webhooks

import "sync"

// budget bounds the bytes of request bodies buffered at once, all hooks
// together. A request reserves what it may read before reading anything
// and gives it back when its answer is written; a reservation that does
// not fit is refused at once (the caller answers 503), so a flood of
// bodies costs at most the budget, never a queue of waiting readers.
type budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	// onChange reports the bytes reserved after every change (a gauge).
	onChange func(used int64)
}

func newBudget(limit int64, onChange func(int64)) *budget {
	if onChange == nil {
		onChange = func(int64) {}
	}
	return &budget{limit: limit, onChange: onChange}
}

// reserve takes n bytes and returns the function that gives them back
// (safe to call more than once), or ok false when n does not fit.
func (b *budget) reserve(n int64) (release func(), ok bool) {
	b.mu.Lock()
	if n > b.limit-b.used {
		b.mu.Unlock()
		return nil, false
	}
	b.used += n
	used := b.used
	b.mu.Unlock()
	b.onChange(used)
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.used -= n
			used := b.used
			b.mu.Unlock()
			b.onChange(used)
		})
	}, true
}

// inUse returns the bytes reserved now.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
