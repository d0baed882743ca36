package rpmdb

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// ndb's on-disk constants (rpm's lib/backend/ndb/rpmpkg.c), little endian.
const (
	ndbMagic      = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic  = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbTailMagic  = 'B' | 'l'<<8 | 'b'<<16 | 'E'<<24
	ndbPage       = 4096
	ndbSlot       = 16
	ndbBlock      = 16
	ndbHeader     = 32 // the first two slots of the first slot page
	ndbBlobHead   = 16 // magic, package index, generation, length
	ndbBlobTail   = 12 // adler32, length, magic
	ndbMaxVersion = 0
)

// ndbBlobs returns the blobs of an ndb Packages.db: the header (magic,
// version, generation, number of slot pages), the slot pages (a slot:
// magic, package index, block offset, block count; offset 0 is a free
// slot), and each used slot's blob at its block offset (16-byte blocks):
// head, blob, padding, tail (adler32 of head, blob and padding; length;
// magic).
func ndbBlobs(data []byte) ([][]byte, error) {
	if len(data) < ndbPage {
		return nil, fmt.Errorf("file of %d bytes is shorter than a slot page", len(data))
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[4:]); v != ndbMaxVersion {
		return nil, fmt.Errorf("version %d is not one this reads (%d)", v, ndbMaxVersion)
	}
	npages := le.Uint32(data[12:])
	if npages == 0 || uint64(npages)*ndbPage > uint64(len(data)) {
		return nil, fmt.Errorf("%d slot pages do not fit in the file's %d bytes", npages, len(data))
	}
	minBlock := uint64(npages) * ndbPage / ndbBlock
	fileBlocks := uint64(len(data)) / ndbBlock
	var blobs [][]byte
	var total uint64
	for off := uint64(ndbHeader); off < uint64(npages)*ndbPage; off += ndbSlot {
		slot := data[off : off+ndbSlot]
		n := (off - ndbHeader) / ndbSlot
		if le.Uint32(slot) != ndbSlotMagic {
			return nil, fmt.Errorf("slot %d: bad magic %#x", n, le.Uint32(slot))
		}
		pkg, blk, cnt := le.Uint32(slot[4:]), uint64(le.Uint32(slot[8:])), uint64(le.Uint32(slot[12:]))
		if blk == 0 {
			continue // a free slot
		}
		if pkg == 0 || cnt == 0 || blk < minBlock || blk+cnt > fileBlocks {
			return nil, fmt.Errorf("slot %d: package %d at blocks %d+%d is outside the blob area (%d to %d)", n, pkg, blk, cnt, minBlock, fileBlocks)
		}
		if total += cnt * ndbBlock; total > uint64(len(data)) {
			return nil, fmt.Errorf("slot %d: the slots' blobs overlap (more bytes than the file has)", n)
		}
		b := data[blk*ndbBlock : (blk+cnt)*ndbBlock]
		if le.Uint32(b) != ndbBlobMagic || le.Uint32(b[4:]) != pkg {
			return nil, fmt.Errorf("slot %d: no blob of package %d at block %d", n, pkg, blk)
		}
		l := uint64(le.Uint32(b[12:]))
		if (ndbBlobHead+l+ndbBlobTail+ndbBlock-1)/ndbBlock != cnt {
			return nil, fmt.Errorf("slot %d: a blob of %d bytes does not take the slot's %d blocks", n, l, cnt)
		}
		tail := b[len(b)-ndbBlobTail:]
		if le.Uint32(tail[4:]) != uint32(l) || le.Uint32(tail[8:]) != ndbTailMagic {
			return nil, fmt.Errorf("slot %d: the blob of package %d has a bad tail", n, pkg)
		}
		if sum := adler32.Checksum(b[:len(b)-ndbBlobTail]); sum != le.Uint32(tail) {
			return nil, fmt.Errorf("slot %d: the blob of package %d fails its adler32 checksum", n, pkg)
		}
		blobs = append(blobs, b[ndbBlobHead:ndbBlobHead+l])
	}
	return blobs, nil
}
