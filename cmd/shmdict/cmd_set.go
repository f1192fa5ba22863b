package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/shmdict/shmdict/table"
)

const setHelp = dashHelp + `

Examples:
  shmdict set tokens user:42 '{"name":"ada"}'
  shmdict set tokens session:9 abc --ttl 30m
  shmdict set tokens blob - < blob.bin
  shmdict set tokens offset -5
  shmdict set tokens -- -flag-like-key --value`

// setCmd is 'shmdict set'.
type setCmd struct{ ttl time.Duration }

func newSetCmd() *command {
	c := &setCmd{}
	return &command{
		name: "set", args: "NAME [--ttl D] [--] KEY VALUE", summary: "store a value (VALUE - reads stdin)",
		help: setHelp,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&c.ttl, "ttl", 0, "expire after this long (e.g. 90s, 30m; 0: never)")
		},
		run: c.run,
	}
}

func (c *setCmd) run(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 3, 3); err != nil {
		return err
	}
	if c.ttl < 0 {
		return usagef("--ttl must not be negative (got %v)", c.ttl)
	}
	val := []byte(args[2])
	if args[2] == "-" {
		b, err := readAllLimited(e, table.MaxValueLen)
		if err != nil {
			return err
		}
		val = b
	}
	return withTable(args[0], func(t *table.Table) error {
		if c.ttl > 0 {
			return t.SetWithTTL([]byte(args[1]), val, c.ttl)
		}
		return t.Set([]byte(args[1]), val)
	})
}

// readAllLimited reads stdin up to max bytes.
func readAllLimited(e *env, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(e.stdin, int64(max+1)))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: stdin has more than %d bytes", table.ErrValueTooLarge, max)
	}
	return b, nil
}
