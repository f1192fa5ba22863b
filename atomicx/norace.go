//go:build !race

package atomicx

// raceEnabled is false: CopyIn is a plain copy ordered by the publishing CAS.
const raceEnabled = false
