package scan

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Bounds on what Load reads, so that a hostile or broken database cannot
// make it read or hold without end.
const (
	// MaxRecordSize bounds one record (a .json file or zip entry). The
	// largest records osv.dev exports (Linux kernel ones, with long
	// version lists) are well below it.
	MaxRecordSize = 16 << 20
	// MaxRecords bounds the records (and zip entries) of one database.
	MaxRecords = 4 << 20
	// MaxDatabaseSize bounds the bytes of all records together, as read
	// (uncompressed): a zip bomb stops here.
	MaxDatabaseSize = 16 << 30
)

// Database is an OSV database, or the part of it a scan needs.
type Database struct {
	Path      string // as given to Load
	Records   int    // records read (withdrawn ones included)
	Withdrawn int    // records left out because they are withdrawn
	byPackage map[string][]*entry
}

// entry is one record kept, and where it came from.
type entry struct {
	rec    *Record
	origin string // the file, or "ZIP: ENTRY"
}

func packageKey(ecosystem, name string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base + "\x00" + name
}

// Load reads an OSV database: path is a .zip of OSV JSON records (as
// osv.dev exports each ecosystem: ECOSYSTEM/all.zip), a directory of
// them (every *.json file is a record and every *.zip an export; other
// files are ignored; subdirectories are read too), or one .json record.
// It keeps the records of which keep reports some affected package as
// wanted (keep(ecosystem, name); nil keeps all), so a scan holds only what
// it can match.
//
// A record that cannot be read (not JSON, not an OSV record, too large)
// is an error naming the file and, inside a zip, the entry: a database
// that is silently incomplete would report too little. A record of the
// same id read twice keeps the one modified last.
func Load(ctx context.Context, path string, keep func(ecosystem, name string) bool) (*Database, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("OSV database: %w", err)
	}
	l := &loader{db: &Database{Path: path, byPackage: map[string][]*entry{}}, keep: keep, byID: map[string]*entry{}}
	switch {
	case st.IsDir():
		var files []string
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := strings.ToLower(filepath.Ext(p)); !d.IsDir() && (ext == ".json" || ext == ".zip") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("OSV database %s: %w", path, err)
		}
		sort.Strings(files)
		for _, f := range files {
			if strings.EqualFold(filepath.Ext(f), ".zip") {
				err = l.readZip(ctx, f)
			} else {
				err = l.readFile(ctx, f)
			}
			if err != nil {
				return nil, err
			}
		}
		if l.db.Records == 0 {
			return nil, fmt.Errorf("OSV database %s has no records (no *.json or *.zip file in it): give a directory of OSV JSON records or a .zip of them, as osv.dev exports them", path)
		}
	case strings.EqualFold(filepath.Ext(path), ".zip"):
		if err := l.readZip(ctx, path); err != nil {
			return nil, err
		}
	case strings.EqualFold(filepath.Ext(path), ".json"):
		if err := l.readFile(ctx, path); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("OSV database %s is neither a directory, a .zip nor a .json file: give a directory of OSV JSON records or a .zip of them, as osv.dev exports them", path)
	}
	ids := make([]string, 0, len(l.byID))
	for id := range l.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := l.byID[id]
		seen := map[string]bool{}
		for _, a := range e.rec.Affected {
			k := packageKey(a.Package.Ecosystem, a.Package.Name)
			if a.Package.Name != "" && !seen[k] {
				seen[k] = true
				l.db.byPackage[k] = append(l.db.byPackage[k], e)
			}
		}
	}
	return l.db, nil
}

type loader struct {
	db    *Database
	keep  func(ecosystem, name string) bool
	byID  map[string]*entry
	total int64
}

func (l *loader) readFile(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("OSV database: %w", err)
	}
	defer f.Close()
	data, err := readBounded(f)
	if err != nil {
		return fmt.Errorf("OSV record %s: %w", name, err)
	}
	return l.add(data, name)
}

func (l *loader) readZip(ctx context.Context, name string) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return fmt.Errorf("OSV database %s: %w (want a .zip of OSV JSON records, as osv.dev exports them)", name, err)
	}
	defer zr.Close()
	if len(zr.File) > MaxRecords {
		return fmt.Errorf("OSV database %s has %d entries, more than the %d a database may have", name, len(zr.File), MaxRecords)
	}
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if zf.FileInfo().IsDir() || !strings.EqualFold(filepath.Ext(zf.Name), ".json") {
			continue
		}
		origin := name + ": " + zf.Name
		if zf.UncompressedSize64 > MaxRecordSize {
			return fmt.Errorf("OSV record %s is %d bytes, more than the %d a record may have", origin, zf.UncompressedSize64, MaxRecordSize)
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("OSV record %s: %w", origin, err)
		}
		data, err := readBounded(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("OSV record %s: %w", origin, err)
		}
		if err := l.add(data, origin); err != nil {
			return err
		}
	}
	return nil
}

// readBounded reads r whole, up to MaxRecordSize bytes (a zip entry that
// declares less than it holds stops there too); the zip reader checks the
// entry's CRC at the end.
func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("more than the %d bytes a record may have", MaxRecordSize)
	}
	return data, nil
}

func (l *loader) add(data []byte, origin string) error {
	l.total += int64(len(data))
	if l.total > MaxDatabaseSize {
		return fmt.Errorf("OSV database %s: more than %d bytes of records (at %s)", l.db.Path, int64(MaxDatabaseSize), origin)
	}
	l.db.Records++
	if l.db.Records > MaxRecords {
		return fmt.Errorf("OSV database %s: more than %d records (at %s)", l.db.Path, MaxRecords, origin)
	}
	rec, err := ParseRecord(data)
	if err != nil {
		return fmt.Errorf("OSV record %s: %w", origin, err)
	}
	if rec.Withdrawn != "" {
		l.db.Withdrawn++
		return nil
	}
	if l.keep != nil {
		wanted := false
		for _, a := range rec.Affected {
			if a.Package.Name != "" && l.keep(a.Package.Ecosystem, a.Package.Name) {
				wanted = true
				break
			}
		}
		if !wanted {
			return nil
		}
	}
	if old, ok := l.byID[rec.ID]; ok && old.rec.Modified > rec.Modified {
		return nil
	}
	l.byID[rec.ID] = &entry{rec: rec, origin: origin}
	return nil
}

// lookup returns the records naming a package of ecosystem's family
// (Debian, Debian:12, ... all give Debian's records).
func (db *Database) lookup(ecosystem, name string) []*entry {
	return db.byPackage[packageKey(ecosystem, name)]
}
