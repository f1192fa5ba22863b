package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/shmdict/shmdict/array"
)

const arrayHelp = `Shared arrays (package array): numpy-compatible .npy files that any process
maps. A NAME without a slash is /dev/shm/NAME.npy (so 'prices' is
/dev/shm/prices.npy, which Python opens with
numpy.load("/dev/shm/prices.npy", mmap_mode="r+")); a NAME with a slash is a
file path, used as given.

Subcommands:
  create NAME --dtype T --shape N[,M...]   make an array of zeros (ErrExist if present)
  info NAME                                 dtype, shape, path, size, last published snapshot
  get NAME INDEX                            print an element
  set NAME INDEX VALUE                      store an element (atomic)
  add NAME INDEX DELTA                      add to an element atomically; prints the new value
  rm NAME                                   remove the file (processes that have it mapped keep it)

T is one of numpy's codes u1 i1 u2 i2 u4 i4 u8 i8 f4 f8, or uint8, int8,
uint16, int16, uint32, int32, uint64, int64, float32, float64. INDEX is a flat
index (C order) or one index per dimension, comma-separated (2,5).

Examples:
  shmdict array create prices --dtype f8 --shape 1000,8
  shmdict array set prices 3,2 101.25
  shmdict array add prices 3,2 -0.25
  shmdict array get prices 3,2
  shmdict array info prices`

// arrayCmd is 'shmdict array'.
type arrayCmd struct {
	dtype, shape string
}

func newArrayCmd() *command {
	c := &arrayCmd{}
	return &command{
		name: "array", args: "create|info|get|set|add|rm NAME ...", summary: "create, read and write shared numpy-compatible arrays",
		help: arrayHelp,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&c.dtype, "dtype", "", "element type (create): u1 i1 u2 i2 u4 i4 u8 i8 f4 f8, or uint8 ... float64")
			fs.StringVar(&c.shape, "shape", "", "dimensions (create), comma-separated: 1000,8")
		},
		run: c.run,
	}
}

// arrayArgs is how many arguments each subcommand takes after its name.
var arrayArgs = map[string]int{"create": 1, "info": 1, "get": 2, "set": 3, "add": 3, "rm": 1}

func (c *arrayCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 {
		return usagef("array needs a subcommand: create, info, get, set, add or rm")
	}
	sub, rest := args[0], args[1:]
	n, ok := arrayArgs[sub]
	if !ok {
		return usagef("unknown array subcommand %q: create, info, get, set, add or rm", sub)
	}
	if len(rest) != n {
		return usagef("array %s takes %d argument(s), got %d", sub, n, len(rest))
	}
	if sub != "create" && (c.dtype != "" || c.shape != "") {
		return usagef("--dtype and --shape are for 'array create'")
	}
	path, err := array.Path(rest[0])
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		return c.create(e, rest[0], path)
	case "rm":
		return arrayNotExist(array.Remove(rest[0]), rest[0])
	}
	in, err := array.Inspect(path)
	if err != nil {
		return arrayNotExist(err, rest[0])
	}
	a, err := attachOps(rest[0], in.DType)
	if err != nil {
		return arrayNotExist(err, rest[0])
	}
	defer a.close()
	if sub == "info" {
		fmt.Fprintf(e.stdout, "path     %s\ndtype    %s\nshape    %s\nelements %d\nfile     %s\nsnapshot %s\n",
			in.Path, in.DType, array.FormatShape(in.Shape), a.length(), humanBytes(in.Bytes), a.snapshotVersion())
		return nil
	}
	i, err := flatIndex(rest[1], in.Shape)
	if err != nil {
		return err
	}
	switch sub {
	case "get":
		fmt.Fprintln(e.stdout, a.get(i))
		return nil
	case "set":
		return a.set(i, rest[2])
	default: // add
		v, err := a.add(i, rest[2])
		if err == nil {
			fmt.Fprintln(e.stdout, v)
		}
		return err
	}
}

func (c *arrayCmd) create(e *env, name, path string) error {
	if c.dtype == "" || c.shape == "" {
		return usagef("array create needs --dtype and --shape")
	}
	shape, err := parseShape(c.shape)
	if err != nil {
		return err
	}
	mk, ok := arrayMakers[strings.ToLower(c.dtype)]
	if !ok {
		return usagef("unknown --dtype %q: u1 i1 u2 i2 u4 i4 u8 i8 f4 f8, or uint8 ... float64", c.dtype)
	}
	opts := array.Options{Group: os.Getenv("SHMDICT_GROUP")}
	if opts.Group != "" {
		opts.Mode = 0o660
	}
	a, err := mk(name, shape, opts)
	if errors.Is(err, array.ErrExist) {
		return fmt.Errorf("%w; 'shmdict array rm %s' first, or use another name", err, name)
	}
	if err != nil {
		return err
	}
	defer a.close()
	fmt.Fprintf(e.stdout, "created %s: %s, shape %s, %d elements\n", path, a.dtype(), array.FormatShape(shape), a.length())
	return nil
}

// arrayNotExist adds what to do to an error for a missing array.
func arrayNotExist(err error, name string) error {
	if errors.Is(err, array.ErrNotExist) {
		return cliError{fmt.Sprintf("array %s does not exist; create it with 'shmdict array create %s --dtype f8 --shape N'", name, name), err}
	}
	return err
}

// arrayOps is an array of any element type, as the command uses it.
type arrayOps interface {
	get(i int) string
	set(i int, v string) error
	add(i int, delta string) (string, error)
	length() int
	dtype() string
	snapshotVersion() string
	close() error
}

// typedOps is arrayOps for element type T.
type typedOps[T array.Element] struct {
	a     *array.Array[T]
	parse func(string) (T, error)
}

func (o typedOps[T]) get(i int) string { return fmt.Sprint(o.a.Load(i)) }
func (o typedOps[T]) length() int      { return o.a.Len() }
func (o typedOps[T]) dtype() string    { return o.a.DType() }
func (o typedOps[T]) close() error     { return o.a.Close() }

func (o typedOps[T]) set(i int, s string) error {
	v, err := o.parse(s)
	if err != nil {
		return err
	}
	o.a.Store(i, v)
	return nil
}

func (o typedOps[T]) add(i int, s string) (string, error) {
	d, err := o.parse(s)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(o.a.Add(i, d)), nil
}

func (o typedOps[T]) snapshotVersion() string {
	v, err := o.a.Version()
	switch {
	case err != nil:
		return err.Error()
	case v == 0:
		return "none published"
	}
	return "version " + strconv.FormatUint(v, 10)
}

// parseInt and parseFloat parse a VALUE or DELTA for an element of bits
// bits, with a usage error that names the type.
func parseInt[T array.Element](bits int, signed bool) func(string) (T, error) {
	return func(s string) (T, error) {
		if signed {
			v, err := strconv.ParseInt(s, 0, bits)
			if err != nil {
				return 0, usagef("%q is not an int%d", s, bits)
			}
			return T(v), nil
		}
		v, err := strconv.ParseUint(s, 0, bits)
		if err != nil {
			return 0, usagef("%q is not a uint%d (a negative DELTA: add wraps, so give the two's complement, or use a signed type)", s, bits)
		}
		return T(v), nil
	}
}

func parseFloat[T array.Element](bits int) func(string) (T, error) {
	return func(s string) (T, error) {
		v, err := strconv.ParseFloat(s, bits)
		if err != nil {
			return 0, usagef("%q is not a float%d", s, bits)
		}
		return T(v), nil
	}
}

// arrayType makes and attaches arrays of one element type.
type arrayType struct {
	make   func(name string, shape []int, opts array.Options) (arrayOps, error)
	attach func(name string) (arrayOps, error)
}

func typed[T array.Element](parse func(string) (T, error)) arrayType {
	return arrayType{
		make: func(name string, shape []int, opts array.Options) (arrayOps, error) {
			a, err := array.Create[T](name, shape, opts)
			if err != nil {
				return nil, err
			}
			return typedOps[T]{a, parse}, nil
		},
		attach: func(name string) (arrayOps, error) {
			a, err := array.AttachShared[T](name, os.Getenv("SHMDICT_GROUP"))
			if err != nil {
				return nil, err
			}
			return typedOps[T]{a, parse}, nil
		},
	}
}

// arrayTypes is every element type by numpy descr.
var arrayTypes = map[string]arrayType{
	"|u1": typed(parseInt[uint8](8, false)), "|i1": typed(parseInt[int8](8, true)),
	"<u2": typed(parseInt[uint16](16, false)), "<i2": typed(parseInt[int16](16, true)),
	"<u4": typed(parseInt[uint32](32, false)), "<i4": typed(parseInt[int32](32, true)),
	"<u8": typed(parseInt[uint64](64, false)), "<i8": typed(parseInt[int64](64, true)),
	"<f4": typed(parseFloat[float32](32)), "<f8": typed(parseFloat[float64](64)),
}

// arrayMakers is create's --dtype spellings.
var arrayMakers = func() map[string]func(string, []int, array.Options) (arrayOps, error) {
	m := map[string]func(string, []int, array.Options) (arrayOps, error){}
	for _, n := range []struct{ descr, code, long string }{
		{"|u1", "u1", "uint8"}, {"|i1", "i1", "int8"}, {"<u2", "u2", "uint16"}, {"<i2", "i2", "int16"},
		{"<u4", "u4", "uint32"}, {"<i4", "i4", "int32"}, {"<u8", "u8", "uint64"}, {"<i8", "i8", "int64"},
		{"<f4", "f4", "float32"}, {"<f8", "f8", "float64"},
	} {
		mk := arrayTypes[n.descr].make
		m[n.code], m[n.long], m[n.descr] = mk, mk, mk
	}
	return m
}()

// attachOps attaches the array called name, whose descr Inspect read.
func attachOps(name, descr string) (arrayOps, error) {
	t, ok := arrayTypes[descr]
	if !ok {
		return nil, fmt.Errorf("%w: %s holds elements of type %q, which this build does not know", array.ErrDType, name, descr)
	}
	return t.attach(name)
}

// parseShape parses --shape: positive sizes, comma-separated.
func parseShape(s string) ([]int, error) {
	var shape []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, usagef("--shape %q: want sizes separated by commas, such as 1000,8", s)
		}
		shape = append(shape, n)
	}
	return shape, nil
}

// flatIndex turns INDEX (flat, or one index per dimension) into a flat
// index within shape, or a usage error.
func flatIndex(s string, shape []int) (int, error) {
	total := 1
	for _, n := range shape {
		total *= n
	}
	parts := strings.Split(s, ",")
	if len(parts) == 1 {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= total {
			return 0, usagef("index %q: want 0 to %d, or one index per dimension of %s", s, total-1, array.FormatShape(shape))
		}
		return i, nil
	}
	if len(parts) != len(shape) {
		return 0, usagef("index %q has %d parts; the array has %d dimensions (%s)", s, len(parts), len(shape), array.FormatShape(shape))
	}
	flat := 0
	for d, p := range parts {
		i, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || i < 0 || i >= shape[d] {
			return 0, usagef("index %q: part %d must be in [0, %d)", s, d+1, shape[d])
		}
		flat = flat*shape[d] + i
	}
	return flat, nil
}
