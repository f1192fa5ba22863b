package table_test

import (
	"math"
	"testing"

	"github.com/shmdict/shmdict/table"
)

const roleTypedWriter = "typedwriter"

func init() { childRoles[roleTypedWriter] = childTypedWriter }

type typedDoc struct {
	Name  string
	Score float64
	Tags  []string
}

// childTypedWriter writes typed values for the parent to read: args name.
func childTypedWriter(args []string) error {
	tb, err := table.Attach(args[0])
	if err != nil {
		return err
	}
	defer tb.Close()
	if err := table.NewMap(tb, table.String{}, table.Float64{}).Set("pi", math.Pi); err != nil {
		return err
	}
	if err := table.NewMap(tb, table.Int64{}, table.String{}).Set(-7, "minus seven"); err != nil {
		return err
	}
	docs := table.NewMap(tb, table.String{}, table.JSON[typedDoc]{})
	if err := docs.Set("doc", typedDoc{Name: "a", Score: 1.5, Tags: []string{"x"}}); err != nil {
		return err
	}
	return table.NewMap(tb, table.String{}, table.Gob[map[string]int]{}).Set("gob", map[string]int{"one": 1})
}

// TestTypedAcrossProcesses: typed values written by one process decode in
// another (the segment holds only bytes; both sides use the same codecs).
func TestTypedAcrossProcesses(t *testing.T) {
	name := segName(t, "")
	tb, err := table.Create(name, table.Options{Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	startChildren(t, roleTypedWriter, 1, name).wait()
	if v, err := table.NewMap(tb, table.String{}, table.Float64{}).Get("pi"); err != nil || v != math.Pi {
		t.Errorf("pi = %v, %v", v, err)
	}
	if v, err := table.NewMap(tb, table.Int64{}, table.String{}).Get(-7); err != nil || v != "minus seven" {
		t.Errorf("-7 = %q, %v", v, err)
	}
	if v, err := table.NewMap(tb, table.String{}, table.JSON[typedDoc]{}).Get("doc"); err != nil || v.Name != "a" || v.Score != 1.5 || len(v.Tags) != 1 {
		t.Errorf("doc = %+v, %v", v, err)
	}
	if v, err := table.NewMap(tb, table.String{}, table.Gob[map[string]int]{}).Get("gob"); err != nil || v["one"] != 1 {
		t.Errorf("gob = %v, %v", v, err)
	}
}

// BenchmarkTyped compares a typed Map's Get and Set with raw bytes on the
// same table (1,024 keys, so the table is in cache and the codec's cost
// shows).
func BenchmarkTyped(b *testing.B) {
	tb, err := table.New(table.Options{Capacity: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	raw := make([][]byte, 1024)
	ints := table.NewMap(tb, table.Int64{}, table.Float64{})
	docs := table.NewMap(tb, table.Int64{}, table.JSON[typedDoc]{})
	val := make([]byte, 8)
	for i := range raw {
		raw[i] = []byte{byte(i), byte(i >> 8), 0, 0, 0, 0, 0, 0} // what Int64 encodes i as
		ints.Set(int64(i), float64(i))
	}
	doc := typedDoc{Name: "name", Score: 2, Tags: []string{"a", "b"}}
	buf := make([]byte, 0, 64)
	b.Run("raw/Get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			buf, _ = tb.AppendGet(buf[:0], raw[i&1023])
			i++
		}
	})
	b.Run("Int64Float64/Get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ints.Get(int64(i & 1023))
			i++
		}
	})
	b.Run("raw/Set", func(b *testing.B) {
		i := 0
		for b.Loop() {
			tb.Set(raw[i&1023], val)
			i++
		}
	})
	b.Run("Int64Float64/Set", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ints.Set(int64(i&1023), 1.5)
			i++
		}
	})
	b.Run("JSON/Set", func(b *testing.B) {
		i := 0
		for b.Loop() {
			docs.Set(int64(i&1023), doc)
			i++
		}
	})
	b.Run("JSON/Get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			docs.Get(int64(i & 1023))
			i++
		}
	})
}
