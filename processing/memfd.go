package processing

import "sync"

// memFiles hands out memPairs (files in memory, mapped: memfd_linux.go)
// to a run's workers, reusing them from one instance to the next, and
// closes them when the run ends. Where they cannot be made (another
// system, a failure), get returns nil and the run hands the engine bytes
// instead.
type memFiles struct {
	capacity int // bytes mapped per file: the largest instance held in memory, and some
	mu       sync.Mutex
	off      bool
	free     []*memPair
	all      []*memPair
}

// memSlack is what a mapped output may exceed the largest input held in
// memory by (de-identification adds a few attributes); a larger output is
// copied out of its file instead.
const memSlack = 1 << 20

// maxMapped bounds a mapping's capacity (address space, not memory: only
// the pages of the instances a worker holds are ever touched).
const maxMapped = 1 << 30

func (m *memFiles) get() *memPair {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.off {
		return nil
	}
	if n := len(m.free); n > 0 {
		p := m.free[n-1]
		m.free = m.free[:n-1]
		return p
	}
	p, err := newMemPair(m.capacity)
	if err != nil {
		m.off = true
		return nil
	}
	m.all = append(m.all, p)
	return p
}

func (m *memFiles) put(p *memPair) {
	m.mu.Lock()
	m.free = append(m.free, p)
	m.mu.Unlock()
}

func (m *memFiles) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.all {
		p.close()
	}
	m.all, m.free, m.off = nil, nil, true
}
