package rpmdb

import (
	"encoding/binary"
	"fmt"
)

// Berkeley DB's on-disk constants (libdb's dbinc/db_page.h).
const (
	bdbHashMagic    = 0x061561
	bdbPageHeader   = 26 // every page but the metadata page starts with it
	bdbHashMeta     = 8  // page types
	bdbHashUnsorted = 2
	bdbHash         = 13
	bdbOverflow     = 7
	bdbKeyData      = 1 // hash item types
	bdbOffPage      = 3
)

// bdbBlobs returns the values of a Berkeley DB hash database as rpm's
// Packages file holds them: keyed by the package's instance number (4
// bytes in the file's byte order), key 0 holding the largest instance.
// Every hash page is read in page order (its items are the live ones; a
// deleted package's items are gone from it); a value is inline (H_KEYDATA)
// or on a chain of overflow pages (H_OFFPAGE).
func bdbBlobs(data []byte) ([][]byte, error) {
	if len(data) < 512 {
		return nil, fmt.Errorf("file of %d bytes is shorter than a metadata page", len(data))
	}
	var order binary.ByteOrder = binary.LittleEndian
	if binary.LittleEndian.Uint32(data[12:]) != bdbHashMagic {
		order = binary.BigEndian
	}
	ps := order.Uint32(data[20:])
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("page size %d is not a power of two from 512 to 65536", ps)
	}
	if data[24] != 0 {
		return nil, fmt.Errorf("the database is encrypted (algorithm %d)", data[24])
	}
	if data[25] != bdbHashMeta {
		return nil, fmt.Errorf("page 0 has type %d, not a hash metadata page (%d)", data[25], bdbHashMeta)
	}
	last := order.Uint32(data[32:])
	if uint64(last)+1 > uint64(len(data))/uint64(ps) {
		return nil, fmt.Errorf("the last page is %d, but the file holds %d pages of %d bytes", last, len(data)/int(ps), ps)
	}
	b := &bdb{data: data, order: order, ps: int(ps), last: last, used: map[uint32]bool{}}
	var blobs [][]byte
	for n := uint32(1); n <= last; n++ {
		pg := b.pageBytes(n)
		if t := pg[25]; t != bdbHash && t != bdbHashUnsorted {
			continue
		}
		vs, err := b.hashPage(n, pg)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", n, err)
		}
		blobs = append(blobs, vs...)
	}
	return blobs, nil
}

type bdb struct {
	data  []byte
	order binary.ByteOrder
	ps    int
	last  uint32
	used  map[uint32]bool // overflow pages already read
}

func (b *bdb) pageBytes(n uint32) []byte {
	return b.data[int(n)*b.ps : (int(n)+1)*b.ps]
}

// hashPage returns the values of one hash page's key/value pairs. Item i
// runs from its offset to the offset of item i-1 (the page's end for
// item 0): items are packed from the end of the page down.
func (b *bdb) hashPage(n uint32, pg []byte) ([][]byte, error) {
	entries := int(b.order.Uint16(pg[20:]))
	if entries%2 != 0 {
		return nil, fmt.Errorf("%d items, not key/value pairs", entries)
	}
	if bdbPageHeader+2*entries > b.ps {
		return nil, fmt.Errorf("%d item offsets do not fit in the page", entries)
	}
	item := func(i int) ([]byte, error) {
		off := int(b.order.Uint16(pg[bdbPageHeader+2*i:]))
		end := b.ps
		if i > 0 {
			end = int(b.order.Uint16(pg[bdbPageHeader+2*(i-1):]))
		}
		if off < bdbPageHeader+2*entries || off >= end || end > b.ps {
			return nil, fmt.Errorf("item %d spans %d to %d, outside the item area", i, off, end)
		}
		return pg[off:end], nil
	}
	var out [][]byte
	for i := 0; i < entries; i += 2 {
		key, err := item(i)
		if err != nil {
			return nil, err
		}
		if key[0] != bdbKeyData || len(key) != 5 {
			return nil, fmt.Errorf("item %d: key of type %d and %d bytes is not a package instance number", i, key[0], len(key)-1)
		}
		if b.order.Uint32(key[1:]) == 0 {
			continue // the largest instance number, not a package
		}
		val, err := item(i + 1)
		if err != nil {
			return nil, err
		}
		switch val[0] {
		case bdbKeyData:
			out = append(out, val[1:])
		case bdbOffPage:
			if len(val) < 12 {
				return nil, fmt.Errorf("item %d: off-page reference of %d bytes is cut short", i+1, len(val))
			}
			v, err := b.overflow(b.order.Uint32(val[4:]), b.order.Uint32(val[8:]))
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i+1, err)
			}
			out = append(out, v)
		default:
			return nil, fmt.Errorf("item %d: value of type %d (duplicates) is not what rpm stores", i+1, val[0])
		}
	}
	return out, nil
}

// overflow reads a value of size bytes from the overflow page chain
// starting at page n: each page holds hf_offset bytes after its header
// and names the next page.
func (b *bdb) overflow(n, size uint32) ([]byte, error) {
	if size > MaxHeaderSize {
		return nil, fmt.Errorf("value of %d bytes is larger than a header may be (%d)", size, MaxHeaderSize)
	}
	out := make([]byte, 0, size)
	for first := n; ; {
		if n == 0 || n > b.last {
			return nil, fmt.Errorf("overflow chain from page %d: page %d is outside the %d pages", first, n, b.last+1)
		}
		if b.used[n] {
			return nil, fmt.Errorf("overflow chain from page %d: page %d is reached twice (a loop, or two values sharing it): the database is damaged", first, n)
		}
		b.used[n] = true
		pg := b.pageBytes(n)
		if pg[25] != bdbOverflow {
			return nil, fmt.Errorf("overflow chain from page %d: page %d has type %d, not an overflow page", first, n, pg[25])
		}
		l := int(b.order.Uint16(pg[22:]))
		if l > b.ps-bdbPageHeader || uint64(len(out))+uint64(l) > uint64(size) {
			return nil, fmt.Errorf("overflow chain from page %d: page %d holds %d bytes, past the value's %d", first, n, l, size)
		}
		out = append(out, pg[bdbPageHeader:bdbPageHeader+l]...)
		n = b.order.Uint32(pg[16:])
		if n == 0 {
			break
		}
	}
	if uint32(len(out)) != size {
		return nil, fmt.Errorf("overflow chain holds %d bytes, not the value's %d", len(out), size)
	}
	return out, nil
}
