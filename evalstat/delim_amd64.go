package evalstat

// delimMasks is delimMasksGo in SSE2 assembly (delim_amd64.s; SSE2 is part
// of every amd64 processor): sixteen bytes per comparison.
//
//go:noescape
func delimMasks(data []byte, commas, lines []uint64) (quote bool)
