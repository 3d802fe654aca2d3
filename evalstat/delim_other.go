//go:build !amd64

package evalstat

// delimMasks is delimMasksGo on processors without an assembly version.
func delimMasks(data []byte, commas, lines []uint64) bool {
	return delimMasksGo(data, commas, lines)
}
