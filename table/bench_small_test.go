package table_test

import (
	"fmt"
	"testing"

	"github.com/shmdict/shmdict/table"
)

// BenchmarkGetSmall: Gets on a 1,024-key table that stays in the CPU's
// caches: the cost of the Get path's instructions, without misses.
func BenchmarkGetSmall(b *testing.B) {
	tbl, err := table.New(table.Options{Capacity: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%011d", i)
		if err := tbl.Set(keys[i], make([]byte, benchValLen)); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 0, 64)
	i := 0
	for b.Loop() {
		buf, err = tbl.AppendGet(buf[:0], keys[i&1023])
		if err != nil {
			b.Fatal(err)
		}
		i += 7
	}
}
