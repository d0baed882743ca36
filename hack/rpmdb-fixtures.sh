#!/usr/bin/env bash
# Regenerates internal/rpmdb/testdata: small rpm package databases, made by
# rpm itself, in the formats rpm keeps them, and rpm's own listing of each
# (packages.txt), which the tests compare with what internal/rpmdb reads.
#
#   rpmdb.sqlite      rpm 4.18's sqlite backend (rpm -i --justdb), one
#                     package installed and erased again; its header blobs
#                     span several pages (a 40 KB description)
#   wal/rpmdb.sqlite  the same with a -wal file holding an uncheckpointed
#   wal/rpmdb.sqlite-wal  deletion of tzdata (packages-wal.txt)
#   Packages          Berkeley DB hash (RHEL/CentOS 7-8), little endian;
#   Packages.be       the same big endian (s390x): written by Berkeley DB's
#                     own db5.3_load from the sqlite database's blobs, as
#                     rpm's BDB backend keys them (instance number, key 0
#                     the largest instance), and read back by rpm's bdb_ro
#   Packages.db       ndb (SUSE): Debian's rpm has no ndb backend, so this
#                     writes the layout of rpm's lib/backend/ndb/rpmpkg.c
#                     (slot pages, blobs with an adler32 tail) around the
#                     same blobs
#
# Needs: rpm, rpmbuild, sqlite3, db5.3_load (db5.3-util), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
out=internal/rpmdb/testdata
for t in rpm rpmbuild sqlite3 db5.3_load python3; do
  command -v "$t" >/dev/null || { echo "rpmdb-fixtures: $t is missing (apt-get install rpm sqlite3 db5.3-util python3)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

spec() { # name, then the spec text on stdin
  cat >"$work/$1.spec"
}
spec openssl <<'EOF'
Name: openssl
Epoch: 1
Version: 3.0.7
Release: 24.el9
Summary: Utilities from the general purpose cryptography library with TLS implementation
License: Apache-2.0
Vendor: Rocky Enterprise Software Foundation
%description
OpenSSL toolkit (fixture).
%package libs
Summary: A general purpose cryptography library with TLS implementation
%description libs
OpenSSL libraries (fixture).
%files libs
EOF
{
  printf 'Name: bash\nVersion: 5.1.8\nRelease: 9.el9\nSummary: The GNU Bourne Again shell\nLicense: GPLv3+\nVendor: Rocky Enterprise Software Foundation\n%%description\n'
  for i in $(seq 600); do echo "Line $i of a long description, so that this header spans several database pages."; done
  printf '%%files\n'
} | spec bash
spec tzdata <<'EOF'
Name: tzdata
Version: 2024a
Release: 1.el9
Summary: Timezone data
License: Public Domain
BuildArch: noarch
%description
Time zone data (fixture).
%files
EOF
spec snapshot-tool <<'EOF'
Name: snapshot-tool
Version: 1.0~rc1^git2
Release: 3.fc40
Summary: A version with a tilde and a caret
License: MIT
%description
Snapshot (fixture).
%files
EOF
spec removed <<'EOF'
Name: removed
Version: 1
Release: 1
Summary: Installed, then erased
License: MIT
BuildArch: noarch
%description
Erased (fixture).
%files
EOF

rb() { rpmbuild --quiet --define "_topdir $work/top" --define '_buildhost fixture' \
  --define 'use_source_date_epoch_as_buildtime 1' "$@" >/dev/null; }
for s in openssl bash tzdata removed; do rb --target x86_64 -bb "$work/$s.spec"; done
rb --target aarch64 -bb "$work/snapshot-tool.spec"

db=$work/sqlite
mkdir -p "$db"
rpmq() { rpm --dbpath "$1" --define "_db_backend $2" -qa --qf '%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{SOURCERPM}|%{VENDOR}\n' | sort; }
rpm --dbpath "$db" --define '_db_backend sqlite' --initdb
# (Debian's rpm warns that alien is the way to install rpms on Debian.)
rpm --dbpath "$db" --define '_db_backend sqlite' -i --justdb --nodeps --ignorearch --noscripts \
  $(find "$work/top/RPMS" -name '*.rpm' | sort) 2>/dev/null
rpm --dbpath "$db" --define '_db_backend sqlite' -e --justdb --nodeps removed

rm -rf "$out"
mkdir -p "$out/wal"
cp "$db/rpmdb.sqlite" "$out/rpmdb.sqlite"
rpmq "$db" sqlite >"$out/packages.txt"

# A -wal file with a committed transaction not yet copied into the main file:
# the sqlite3 shell copies both files while it still holds the database open.
cp "$db/rpmdb.sqlite" "$work/walsrc.sqlite"
sqlite3 "$work/walsrc.sqlite" >/dev/null <<EOF
PRAGMA journal_mode=WAL;
PRAGMA wal_autocheckpoint=0;
DELETE FROM Packages WHERE hnum IN (SELECT hnum FROM Name WHERE key='tzdata');
.shell cp $work/walsrc.sqlite $out/wal/rpmdb.sqlite
.shell cp $work/walsrc.sqlite-wal $out/wal/rpmdb.sqlite-wal
EOF
mkdir -p "$work/walq"
cp "$out/wal/rpmdb.sqlite" "$out/wal/rpmdb.sqlite-wal" "$work/walq/"
rpmq "$work/walq" sqlite >"$out/packages-wal.txt"
if cmp -s "$out/packages.txt" "$out/packages-wal.txt"; then
  echo "rpmdb-fixtures: the -wal file did not change what rpm lists" >&2; exit 1
fi

# The blobs, for the Berkeley DB and ndb files.
sqlite3 "$db/rpmdb.sqlite" "SELECT hnum || ' ' || hex(blob) FROM Packages ORDER BY hnum" >"$work/blobs"

bdb() { # file, byte order (1234 or 4321)
  python3 - "$work/blobs" "$2" >"$work/dump" <<'PY'
import struct, sys
blobs = [l.split() for l in open(sys.argv[1])]
fmt = "<I" if sys.argv[2] == "1234" else ">I"
print("VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END")
print(" " + struct.pack(fmt, 0).hex())
print(" " + struct.pack(fmt, max(int(h) for h, _ in blobs)).hex())
for h, b in blobs:
    print(" " + struct.pack(fmt, int(h)).hex())
    print(" " + b.lower())
print("DATA=END")
PY
  rm -f "$1"
  db5.3_load -c db_lorder="$2" -f "$work/dump" "$1"
}
bdb "$out/Packages" 1234
bdb "$out/Packages.be" 4321
# rpm's own Berkeley DB reader must list what the sqlite database holds.
# (bdb_ro warns about the index files this does not write.)
for f in Packages Packages.be; do
  rm -rf "$work/bdbq"; mkdir -p "$work/bdbq"
  cp "$out/$f" "$work/bdbq/Packages"
  if ! diff <(rpmq "$work/bdbq" bdb_ro 2>/dev/null) "$out/packages.txt"; then
    echo "rpmdb-fixtures: rpm's bdb_ro reads another package list from $f" >&2; exit 1
  fi
done

python3 - "$work/blobs" "$out/Packages.db" <<'PY'
# The ndb layout of rpm's lib/backend/ndb/rpmpkg.c: a 32-byte header at the
# start of the slot pages (4096 bytes, 16-byte slots), then blobs in 16-byte
# blocks: head (BlbS, pkgidx, generation, length), the header blob, zero
# padding, tail (adler32 of everything before it, length, BlbE).
import struct, sys, zlib
blobs = [l.split() for l in open(sys.argv[1])]
page, slotnpages = 4096, 1
slots, data = [], b""
blk = slotnpages * page // 16
for i, (h, b) in enumerate(blobs):
    blob = bytes.fromhex(b)
    head = struct.pack("<4I", 0x53626c42, int(h), 1, len(blob))
    n = (16 + len(blob) + 12 + 15) // 16
    body = head + blob + b"\0" * (n * 16 - 16 - len(blob) - 12)
    body += struct.pack("<3I", zlib.adler32(body), len(blob), 0x45626c42)
    slots.append(struct.pack("<4I", 0x746f6c53, int(h), blk, n))
    blk += n
    data += body
hdr = struct.pack("<8I", 0x506d7052, 0, 1, slotnpages, max(int(h) for h, _ in blobs) + 1, 0, 0, 0)
free = struct.pack("<4I", 0x746f6c53, 0, 0, 0)
pages = hdr + b"".join(slots) + free * (page // 16 - 2 - len(slots))
open(sys.argv[2], "wb").write(pages + data)
PY
ls -l "$out" "$out/wal"
