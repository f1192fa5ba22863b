//go:build !amd64 || race

package atomicx

// plainReads: see plain_amd64.go.
const plainReads = false
