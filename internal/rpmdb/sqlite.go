package rpmdb

import (
	"encoding/binary"
	"fmt"
)

// sqlite is a read-only view of an sqlite database file (the format of
// sqlite.org/fileformat2.html), with the committed frames of its -wal
// file applied. Each page may be used once: the page set guards against
// loops and against two cells claiming the same page.
type sqlite struct {
	data     []byte
	pageSize int
	usable   int // page size less the reserved bytes at each page's end
	npages   uint32
	wal      map[uint32][]byte // pages whose committed content is in the -wal file
	used     map[uint32]bool
}

// sqliteBlobs returns the blob column of every row of the table
// Packages, in rowid order.
func sqliteBlobs(data, wal []byte) ([][]byte, error) {
	if len(data) < 100 {
		return nil, fmt.Errorf("file of %d bytes is shorter than the 100-byte sqlite header", len(data))
	}
	ps := int(binary.BigEndian.Uint16(data[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("page size %d is not a power of two from 512 to 65536", ps)
	}
	usable := ps - int(data[20])
	if usable < 480 {
		return nil, fmt.Errorf("%d reserved bytes per page leave %d usable of %d", data[20], usable, ps)
	}
	if enc := binary.BigEndian.Uint32(data[56:]); enc != 1 && enc != 0 {
		return nil, fmt.Errorf("text encoding %d is not UTF-8 (rpm writes UTF-8)", enc)
	}
	db := &sqlite{data: data, pageSize: ps, usable: usable, npages: uint32(len(data) / ps), used: map[uint32]bool{}}
	if len(wal) > 0 {
		if err := db.applyWAL(wal); err != nil {
			return nil, fmt.Errorf("-wal file: %w", err)
		}
	}
	root, err := db.packagesRoot()
	if err != nil {
		return nil, err
	}
	var blobs [][]byte
	err = db.walk(root, 0, func(rowid int64, rec []byte) error {
		cols, err := record(rec, 2)
		if err != nil {
			return fmt.Errorf("Packages row %d: %w", rowid, err)
		}
		if cols[1].typ != colBlob {
			return fmt.Errorf("Packages row %d: the blob column is not a blob", rowid)
		}
		blobs = append(blobs, cols[1].data)
		return nil
	})
	return blobs, err
}

// packagesRoot finds the root page of the table Packages in
// sqlite_schema (page 1): rows (type, name, tbl_name, rootpage, sql).
func (db *sqlite) packagesRoot() (uint32, error) {
	var root int64 = -1
	err := db.walk(1, 0, func(rowid int64, rec []byte) error {
		cols, err := record(rec, 4)
		if err != nil {
			return fmt.Errorf("sqlite_schema row %d: %w", rowid, err)
		}
		if cols[0].typ == colText && string(cols[0].data) == "table" && cols[1].typ == colText && string(cols[1].data) == "Packages" {
			if cols[3].typ != colInt {
				return fmt.Errorf("sqlite_schema: table Packages has no root page number")
			}
			root = cols[3].int
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if root < 0 {
		return 0, fmt.Errorf("no table Packages: not an rpm database")
	}
	if root < 2 || root > int64(db.npages) {
		return 0, fmt.Errorf("table Packages: root page %d is outside the %d pages", root, db.npages)
	}
	// sqlite_schema's pages are read again as part of no other tree.
	clear(db.used)
	return uint32(root), nil
}

// page returns page n (1-based), the -wal file's committed version if it
// has one, and marks it used.
func (db *sqlite) page(n uint32) ([]byte, error) {
	if n < 1 || n > db.npages {
		return nil, fmt.Errorf("page %d is outside the %d pages of the database", n, db.npages)
	}
	if db.used[n] {
		return nil, fmt.Errorf("page %d is reached twice (a loop, or two cells sharing it): the database is damaged", n)
	}
	db.used[n] = true
	if p, ok := db.wal[n]; ok {
		return p, nil
	}
	off := int64(n-1) * int64(db.pageSize)
	if off+int64(db.pageSize) > int64(len(db.data)) {
		return nil, fmt.Errorf("page %d is past the end of the file", n)
	}
	return db.data[off : off+int64(db.pageSize)], nil
}

// Table b-tree page types.
const (
	pageTableInterior = 0x05
	pageTableLeaf     = 0x0d
)

// maxDepth bounds the depth of a b-tree: with 512-byte pages and four
// children a page, 40 levels hold more pages than a file can.
const maxDepth = 40

// walk calls fn for every row of the table b-tree rooted at page n, in
// rowid order, with the row's record.
func (db *sqlite) walk(n uint32, depth int, fn func(rowid int64, rec []byte) error) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: b-tree deeper than %d levels", n, maxDepth)
	}
	pg, err := db.page(n)
	if err != nil {
		return err
	}
	h := 0
	if n == 1 {
		h = 100
	}
	pg = pg[:db.usable]
	typ := pg[h]
	hdrLen := 8
	if typ == pageTableInterior {
		hdrLen = 12
	} else if typ != pageTableLeaf {
		return fmt.Errorf("page %d: type %#x is not a table b-tree page", n, typ)
	}
	ncells := int(binary.BigEndian.Uint16(pg[h+3:]))
	ptrs := h + hdrLen
	if ptrs+2*ncells > len(pg) {
		return fmt.Errorf("page %d: %d cell pointers do not fit in the page", n, ncells)
	}
	for i := 0; i < ncells; i++ {
		off := int(binary.BigEndian.Uint16(pg[ptrs+2*i:]))
		if off < ptrs+2*ncells || off >= len(pg) {
			return fmt.Errorf("page %d: cell %d at offset %d is outside the cell area", n, i, off)
		}
		cell := pg[off:]
		if typ == pageTableInterior {
			if len(cell) < 4 {
				return fmt.Errorf("page %d: cell %d is cut short", n, i)
			}
			if err := db.walk(binary.BigEndian.Uint32(cell), depth+1, fn); err != nil {
				return err
			}
			continue
		}
		size, k := varint(cell)
		if k == 0 {
			return fmt.Errorf("page %d: cell %d: payload size is cut short", n, i)
		}
		rowid, k2 := varint(cell[k:])
		if k2 == 0 {
			return fmt.Errorf("page %d: cell %d: rowid is cut short", n, i)
		}
		rec, err := db.payload(cell[k+k2:], size)
		if err != nil {
			return fmt.Errorf("page %d: cell %d (row %d): %w", n, i, int64(rowid), err)
		}
		if err := fn(int64(rowid), rec); err != nil {
			return err
		}
	}
	if typ == pageTableInterior {
		return db.walk(binary.BigEndian.Uint32(pg[h+8:]), depth+1, fn)
	}
	return nil
}

// payload assembles a table leaf cell's payload of size bytes: the part
// stored in the cell, then the overflow page chain.
func (db *sqlite) payload(cell []byte, size uint64) ([]byte, error) {
	if size > MaxHeaderSize+1024 {
		return nil, fmt.Errorf("payload of %d bytes is larger than a header may be (%d)", size, MaxHeaderSize)
	}
	u := uint64(db.usable)
	local := size
	if maxLocal := u - 35; size > maxLocal {
		minLocal := (u-12)*32/255 - 23
		local = minLocal + (size-minLocal)%(u-4)
		if local > maxLocal {
			local = minLocal
		}
	}
	over := local < size
	need := local
	if over {
		need += 4
	}
	if need > uint64(len(cell)) {
		return nil, fmt.Errorf("payload of %d bytes (%d in the cell) runs past the page", size, local)
	}
	out := make([]byte, 0, size)
	out = append(out, cell[:local]...)
	if !over {
		return out, nil
	}
	next := binary.BigEndian.Uint32(cell[local:])
	for uint64(len(out)) < size {
		if next == 0 {
			return nil, fmt.Errorf("overflow chain ends after %d of %d bytes", len(out), size)
		}
		pg, err := db.page(next)
		if err != nil {
			return nil, fmt.Errorf("overflow chain: %w", err)
		}
		n := min(size-uint64(len(out)), u-4)
		out = append(out, pg[4:4+n]...)
		next = binary.BigEndian.Uint32(pg)
	}
	return out, nil
}

// varint reads an sqlite variable-length integer: 1 to 9 bytes, seven
// bits each, the ninth eight. It returns the number of bytes, 0 if b is
// cut short.
func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// Column kinds of a record.
const (
	colNull = iota
	colInt
	colFloat
	colBlob
	colText
)

type column struct {
	typ  int
	int  int64
	data []byte // blob or text
}

// record decodes the first n columns of an sqlite record: a header (its
// length, then one serial type per column) and the column bodies.
// Missing trailing columns are NULL, as sqlite reads them.
func record(rec []byte, n int) ([]column, error) {
	hlen, k := varint(rec)
	if k == 0 || hlen < uint64(k) || hlen > uint64(len(rec)) {
		return nil, fmt.Errorf("record header length %d does not fit the %d-byte record", hlen, len(rec))
	}
	cols := make([]column, n)
	hp, body := k, hlen
	for i := 0; i < n && uint64(hp) < hlen; i++ {
		st, k := varint(rec[hp:hlen])
		if k == 0 {
			return nil, fmt.Errorf("record header is cut short at column %d", i)
		}
		hp += k
		var size uint64
		switch {
		case st == 0, st == 8, st == 9:
			cols[i] = column{typ: colInt, int: int64(st) - 8}
			if st == 0 {
				cols[i] = column{typ: colNull}
			}
		case st <= 6:
			size = [...]uint64{0, 1, 2, 3, 4, 6, 8}[st]
		case st == 7:
			size = 8
		case st >= 12:
			size = (st - 12) / 2
		default:
			return nil, fmt.Errorf("column %d has reserved serial type %d", i, st)
		}
		if size > uint64(len(rec))-body {
			return nil, fmt.Errorf("column %d of %d bytes runs past the %d-byte record", i, size, len(rec))
		}
		b := rec[body : body+size]
		switch {
		case st >= 1 && st <= 6:
			v := int64(int8(b[0]))
			for _, c := range b[1:] {
				v = v<<8 | int64(c)
			}
			cols[i] = column{typ: colInt, int: v}
		case st == 7:
			cols[i] = column{typ: colFloat}
		case st >= 12 && st%2 == 0:
			cols[i] = column{typ: colBlob, data: b}
		case st >= 13:
			cols[i] = column{typ: colText, data: b}
		}
		body += size
	}
	return cols, nil
}

// applyWAL reads a -wal file as sqlite recovers one: the 32-byte header
// (magic, version, page size, checkpoint sequence, salts, checksum), then
// frames of a 24-byte header (page number, database size in pages after
// a commit or 0, the salts, the running checksum) and a page. Frames
// count while their salts match the header's and the running checksum
// holds; the pages of the frames up to the last commit among them
// replace those of the database file.
func (db *sqlite) applyWAL(wal []byte) error {
	if len(wal) < 32 {
		return nil // sqlite ignores (and rewrites) a -wal file without a header
	}
	magic := binary.BigEndian.Uint32(wal)
	if magic != 0x377f0682 && magic != 0x377f0683 {
		return fmt.Errorf("magic %#x is not a WAL file's", magic)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic&1 == 1 {
		order = binary.BigEndian
	}
	if ps := int(binary.BigEndian.Uint32(wal[8:])); ps != db.pageSize {
		return fmt.Errorf("page size %d is not the database's %d", ps, db.pageSize)
	}
	s0, s1 := walChecksum(order, wal[:24], 0, 0)
	if s0 != binary.BigEndian.Uint32(wal[24:]) || s1 != binary.BigEndian.Uint32(wal[28:]) {
		return nil // an invalid header: sqlite reads no frame
	}
	salt := wal[16:24]
	committed := map[uint32][]byte{}
	pending := map[uint32][]byte{}
	size := db.npages
	frame := 24 + db.pageSize
	for off := 32; off+frame <= len(wal); off += frame {
		fh := wal[off : off+24]
		if string(fh[8:16]) != string(salt) {
			break
		}
		s0, s1 = walChecksum(order, fh[:8], s0, s1)
		s0, s1 = walChecksum(order, wal[off+24:off+frame], s0, s1)
		if s0 != binary.BigEndian.Uint32(fh[16:]) || s1 != binary.BigEndian.Uint32(fh[20:]) {
			break
		}
		pg := binary.BigEndian.Uint32(fh)
		if pg == 0 {
			break
		}
		pending[pg] = wal[off+24 : off+frame]
		if commit := binary.BigEndian.Uint32(fh[4:]); commit != 0 {
			for k, v := range pending {
				committed[k] = v
			}
			clear(pending)
			size = commit
		}
	}
	if len(committed) == 0 {
		return nil
	}
	if uint64(size) > uint64(len(db.data)/db.pageSize)+uint64(len(committed)) {
		return fmt.Errorf("a commit frame sets the database to %d pages, more than the file and the -wal file hold", size)
	}
	db.npages, db.wal = size, committed
	return nil
}

// walChecksum continues sqlite's WAL checksum over b (a multiple of 8
// bytes): 32-bit words in the WAL's byte order, summed in pairs.
func walChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}
