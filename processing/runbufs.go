package processing

import "sync"

// runBuffers holds a run's input buffers from one instance to the next,
// for the whole run: a sync.Pool may drop them at any garbage collection,
// and a buffer of an instance's size allocated again is zeroed and its
// pages faulted in again. Instances go to the workers smallest first, so
// a buffer taken for an instance is grown at most a few times in a run
// (by a quarter more than asked, to spare the next few).
type runBuffers struct {
	mu   sync.Mutex
	free []*[]byte
}

// get returns a buffer of length n.
func (r *runBuffers) get(n int) *[]byte {
	r.mu.Lock()
	var b *[]byte
	if k := len(r.free); k > 0 {
		// The largest free buffer (the list is short: one per worker).
		best := 0
		for i, f := range r.free {
			if cap(*f) > cap(*r.free[best]) {
				best = i
			}
		}
		b = r.free[best]
		r.free[best] = r.free[k-1]
		r.free = r.free[:k-1]
	}
	r.mu.Unlock()
	if b == nil || cap(*b) < n {
		nb := make([]byte, n, n+n/4)
		b = &nb
	}
	*b = (*b)[:n]
	return b
}

// put keeps b for the run's next instances.
func (r *runBuffers) put(b *[]byte) {
	r.mu.Lock()
	r.free = append(r.free, b)
	r.mu.Unlock()
}
