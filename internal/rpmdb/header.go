package rpmdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Header tags ParseHeader reads (rpm's include/rpm/rpmtag.h).
const (
	tagName            = 1000
	tagVersion         = 1001
	tagRelease         = 1002
	tagEpoch           = 1003
	tagVendor          = 1011
	tagLicense         = 1014
	tagArch            = 1022
	tagSourceRPM       = 1044
	tagModularityLabel = 5096
)

// Header data types (rpmTagType).
const (
	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

// Bounds rpm itself applies to a header (lib/header.c: hdrchkTags,
// hdrchkData).
const (
	maxIndexEntries = 0xffff
	maxDataLength   = 0x0fffffff
)

// ParseHeader reads the package fields of an rpm header blob as rpm
// stores it in its database: the index length il and data length dl
// (32-bit big endian), il index entries of 16 bytes (tag, type, offset,
// count), then dl bytes of data. Tags it does not need are not read; of
// a tag given twice (a region and its dribble entries) the last is kept.
func ParseHeader(blob []byte) (Package, error) {
	var p Package
	if len(blob) < 8 {
		return p, fmt.Errorf("header of %d bytes is shorter than its 8-byte preamble", len(blob))
	}
	if len(blob) > MaxHeaderSize {
		return p, fmt.Errorf("header of %d bytes is larger than the %d a header may have", len(blob), MaxHeaderSize)
	}
	il := binary.BigEndian.Uint32(blob)
	dl := binary.BigEndian.Uint32(blob[4:])
	if il == 0 || il > maxIndexEntries {
		return p, fmt.Errorf("header has %d index entries (1 to %d are valid)", il, maxIndexEntries)
	}
	if dl > maxDataLength {
		return p, fmt.Errorf("header data length %d is larger than rpm allows (%d)", dl, maxDataLength)
	}
	start := 8 + 16*uint64(il)
	if start+uint64(dl) > uint64(len(blob)) {
		return p, fmt.Errorf("header declares %d index entries and %d bytes of data, more than its %d bytes", il, dl, len(blob))
	}
	data := blob[start : start+uint64(dl)]
	for i := uint64(0); i < uint64(il); i++ {
		e := blob[8+16*i:]
		tag := binary.BigEndian.Uint32(e)
		typ := binary.BigEndian.Uint32(e[4:])
		off := binary.BigEndian.Uint32(e[8:])
		cnt := binary.BigEndian.Uint32(e[12:])
		var dst *string
		switch tag {
		case tagName:
			dst = &p.Name
		case tagVersion:
			dst = &p.Version
		case tagRelease:
			dst = &p.Release
		case tagVendor:
			dst = &p.Vendor
		case tagLicense:
			dst = &p.License
		case tagArch:
			dst = &p.Arch
		case tagSourceRPM:
			dst = &p.SourceRPM
		case tagModularityLabel:
			dst = &p.ModularityLabel
		case tagEpoch:
			if typ != typeInt32 || cnt < 1 || uint64(off)+4 > uint64(len(data)) {
				return p, fmt.Errorf("header entry %d (EPOCH): type %d, count %d at offset %d of %d data bytes is not a 32-bit integer", i, typ, cnt, off, len(data))
			}
			p.Epoch = strconv.FormatUint(uint64(binary.BigEndian.Uint32(data[off:])), 10)
			continue
		default:
			continue
		}
		s, err := headerString(data, typ, off, cnt)
		if err != nil {
			return p, fmt.Errorf("header entry %d (tag %d): %w", i, tag, err)
		}
		*dst = s
	}
	switch {
	case p.Name == "":
		return p, fmt.Errorf("header has no NAME")
	case p.Version == "":
		return p, fmt.Errorf("header of %s has no VERSION", p.Name)
	case p.Release == "":
		return p, fmt.Errorf("header of %s has no RELEASE", p.Name)
	}
	return p, nil
}

// headerString reads a string entry: a STRING, or the first string of a
// STRING_ARRAY or I18NSTRING (the untranslated one), NUL-terminated
// inside the data.
func headerString(data []byte, typ, off, cnt uint32) (string, error) {
	switch typ {
	case typeString, typeStringArray, typeI18NString:
	default:
		return "", fmt.Errorf("type %d is not a string", typ)
	}
	if cnt < 1 || (typ == typeString && cnt != 1) {
		return "", fmt.Errorf("string entry with count %d", cnt)
	}
	if uint64(off) >= uint64(len(data)) {
		return "", fmt.Errorf("offset %d is past the %d data bytes", off, len(data))
	}
	end := bytes.IndexByte(data[off:], 0)
	if end < 0 {
		return "", fmt.Errorf("string at offset %d has no terminating NUL", off)
	}
	return string(data[off : off+uint32(end)]), nil
}
