package segment

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
)

// TestSegmentAttachImage checks that AttachImage accepts and refuses
// exactly the images Attach accepts and refuses as files (the fuzz
// targets rely on it), and that it works on a private copy.
func TestSegmentAttachImage(t *testing.T) {
	dir := t.TempDir()
	p, valid := validSegmentBytes(t, dir, "seg")

	s, err := AttachImage(valid)
	if err != nil {
		t.Fatalf("AttachImage of a valid segment: %v", err)
	}
	f, err := Attach(p, Access{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Layout != f.Layout || !s.IsHeap() || s.Path != "" {
		t.Errorf("AttachImage: layout %+v, heap %v, path %q; Attach of the file: %+v", s.Layout, s.IsHeap(), s.Path, f.Layout)
	}
	f.Close()
	copy(valid[s.Layout.SlotsOff:], "changed")
	if s.Mem.Load64(s.Layout.SlotsOff) != 0 {
		t.Errorf("AttachImage shares the caller's bytes")
	}
	copy(valid[s.Layout.SlotsOff:], make([]byte, 8))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Images the file path refuses, each compared with Attach of the same
	// bytes as a file.
	images := map[string][]byte{
		"empty":            {},
		"header only":      valid[:HeaderSize],
		"short header":     valid[:HeaderSize-1],
		"one byte short":   valid[:len(valid)-1],
		"a page short":     valid[:len(valid)-4096],
		"one byte more":    append(bytes.Clone(valid), 0),
		"a page more":      append(bytes.Clone(valid), make([]byte, 4096)...),
		"version 3":        patched(valid, offVersion, 3),
		"zero checksum":    patched(valid, offChecksum, 0),
		"magic":            patched(valid, offMagic, 0),
		"reserved 200 set": patched(valid, 200, 1), // not checksummed: both accept
	}
	for i := 0; i < offChecksum; i += 7 {
		b := bytes.Clone(valid)
		b[i] ^= 0x80
		images[fmt.Sprintf("header byte %d flipped", i)] = b
	}
	for what, img := range images {
		if err := os.WriteFile(p, img, 0o600); err != nil {
			t.Fatal(err)
		}
		ferr := closeSeg(Attach(p, Access{}))
		herr := closeSeg(AttachImage(img))
		if errKind(ferr) != errKind(herr) {
			t.Errorf("%s: AttachImage: %v; Attach of the file: %v", what, herr, ferr)
		}
		if herr != nil {
			wantErr(t, what, herr, ErrCorrupt, ErrVersion)
		}
	}
}

// patched returns a copy of b with the little-endian u32 at off set to v
// (the checksum is not resealed).
func patched(b []byte, off int, v uint32) []byte {
	c := bytes.Clone(b)
	c[off], c[off+1], c[off+2], c[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return c
}

func closeSeg(s *Segment, err error) error {
	if err == nil {
		s.Close()
	}
	return err
}

// errKind is the sentinel err matches: nil, ErrCorrupt, ErrVersion, or
// err itself.
func errKind(err error) error {
	for _, s := range []error{ErrCorrupt, ErrVersion} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}
