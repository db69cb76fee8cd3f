"""Hand-encodes a tiny R lazy-load database (tiny.rdx + tiny.rdb) in R's XDR serialisation, as R's
`tools:::makeLazyLoadDB` would write it, without R (which is not installed here). Run from this folder:

    python3 make_rdata_fixture.py

Objects:
  book  : character vector c("Title", "", "First line of a", "paragraph.", NA, "Caf\u00e9 (UTF-8)", "na\u00efve (latin1)")
  count : integer vector c(a = 1L, b = NA, c = 3L)   (a names attribute, via a pairlist with a symbol tag)
  seq   : 1:5 as an ALTREP compact_intseq
  again : list(x = 2.5, y = TRUE) whose names reuse the symbol table (REFSXP) — a version-2 stream, zlib blob
"""
import gzip
import struct
import zlib

NILVALUE, REFSXP, SYMSXP, LISTSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP, ALTREP = \
    254, 255, 1, 2, 9, 10, 13, 14, 16, 19, 238
HAS_ATTR, HAS_TAG = 1 << 9, 1 << 10
UTF8, LATIN1, ASCII = 1 << 3, 1 << 2, 1 << 6


def i32(v):
    return struct.pack(">i", v)


def flags(t, levels=0, attr=False, tag=False):
    return i32(t | (levels << 12) | (HAS_ATTR if attr else 0) | (HAS_TAG if tag else 0))


def charsxp(s, enc=None):
    if s is None:
        return flags(CHARSXP) + i32(-1)
    if enc == "latin1":
        b = s.encode("latin-1")
        return flags(CHARSXP, LATIN1) + i32(len(b)) + b
    b = s.encode("utf-8")
    return flags(CHARSXP, ASCII if b.isascii() else UTF8) + i32(len(b)) + b


def strsxp(items, attr=b""):
    out = flags(STRSXP, attr=bool(attr)) + i32(len(items))
    for s in items:
        out += charsxp(*s) if isinstance(s, tuple) else charsxp(s)
    return out + attr


def symbol(name):
    return flags(SYMSXP) + charsxp(name)


def names_attr(names, first_symbol_ref=None):
    # pairlist(names = c(...)): LISTSXP with tag, CAR, then NILVALUE as CDR.
    tag = symbol("names") if first_symbol_ref is None else i32(REFSXP | (first_symbol_ref << 8))
    return flags(LISTSXP, tag=True) + tag + strsxp(names) + flags(NILVALUE)


def header(version):
    h = b"X\n" + i32(version) + i32(0x040201) + i32(0x030500)
    if version == 3:
        h += i32(5) + b"UTF-8"
    return h


book = header(3) + strsxp(["Title", "", "First line of a", "paragraph.", None, "Caf\u00e9 (UTF-8)",
                           ("na\u00efve (latin1)", "latin1")])
count = header(3) + flags(INTSXP, attr=True) + i32(3) + i32(1) + i32(-2**31) + i32(3) + names_attr(["a", "b", "c"])
altrep_info = flags(LISTSXP) + symbol("compact_intseq") + flags(LISTSXP) + symbol("base") \
    + flags(LISTSXP) + flags(INTSXP) + i32(1) + i32(13) + flags(NILVALUE)
seq = header(3) + flags(ALTREP) + altrep_info + flags(REALSXP) + i32(3) + struct.pack(">ddd", 5, 1, 1) \
    + flags(NILVALUE)
# list(x = 2.5, y = TRUE): the names attribute's tag symbol "names" is the first symbol of this stream (ref 1).
again = header(2) + flags(VECSXP, attr=True) + i32(2) + flags(REALSXP) + i32(1) + struct.pack(">d", 2.5) \
    + flags(LGLSXP) + i32(1) + i32(1) + flags(LISTSXP, tag=True) + symbol("names") + strsxp(["x", "y"]) \
    + flags(NILVALUE)

blobs, index = b"", []
for name, payload in [("book", book), ("count", count), ("seq", seq), ("again", again)]:
    blob = struct.pack(">I", len(payload)) + zlib.compress(payload)
    index.append((name, len(blobs), len(blob)))
    blobs += blob

# The index: list(variables = list(name = c(offset, length), …), references = list(), compressed = TRUE)
variables = flags(VECSXP, attr=True) + i32(len(index))
for _, off, ln in index:
    variables += flags(INTSXP) + i32(2) + i32(off) + i32(ln)
variables += flags(LISTSXP, tag=True) + symbol("names") + strsxp([n for n, _, _ in index]) + flags(NILVALUE)
rdx = header(3) + flags(VECSXP, attr=True) + i32(3) + variables + flags(VECSXP) + i32(0) \
    + flags(LGLSXP) + i32(1) + i32(1) \
    + flags(LISTSXP, tag=True) + i32(REFSXP | (1 << 8)) + strsxp(["variables", "references", "compressed"]) \
    + flags(NILVALUE)

open("tiny.rdb", "wb").write(blobs)
open("tiny.rdx", "wb").write(gzip.compress(rdx, mtime=0))
print("wrote tiny.rdb", len(blobs), "bytes and tiny.rdx")
