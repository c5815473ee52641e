#!/usr/bin/env python3
"""An independent GGUF reader, written from the format specification, used by
the tests to prove that files lair writes are valid for other readers.

usage: gguf_check.py FILE            validate; print a summary line
       gguf_check.py --types FILE    print "name type dims" per tensor, sorted
Exit status 1 with a message on any violation of the format."""
import struct
from math import prod
import sys

# ggml type id -> (name, elements per block, bytes per block)
TYPES = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20), 6: ("q5_0", 32, 22),
    7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34), 9: ("q8_1", 32, 36), 10: ("q2_K", 256, 84),
    11: ("q3_K", 256, 110), 12: ("q4_K", 256, 144), 13: ("q5_K", 256, 176), 14: ("q6_K", 256, 210),
    15: ("q8_K", 256, 292), 20: ("iq4_nl", 32, 18), 23: ("iq4_xs", 256, 136), 24: ("i8", 1, 1),
    25: ("i16", 1, 2), 26: ("i32", 1, 4), 27: ("i64", 1, 8), 28: ("f64", 1, 8), 30: ("bf16", 1, 2),
}
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.b, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        if self.p + n > len(self.b):
            raise ValueError("string past end of file at %d" % self.p)
        s = self.b[self.p:self.p + n].decode("utf-8")  # raises on invalid UTF-8
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALARS[t])


def parse(path):
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        raise ValueError("bad magic")
    r.p = 4
    version = r.take("<I")
    if version not in (2, 3):
        raise ValueError("version %d" % version)
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        if k in kv:
            raise ValueError("duplicate key " + k)
        kv[k] = r.value(r.take("<I"))
    align = kv.get("general.alignment", 32)
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        t, off = r.take("<I"), r.take("<Q")
        if t not in TYPES:
            raise ValueError("%s: unknown type %d" % (name, t))
        _, bs, bb = TYPES[t]
        if ne[0] % bs:
            raise ValueError("%s: row of %d not a multiple of %d" % (name, ne[0], bs))
        n = 1
        for x in ne:
            n *= x
        tensors.append((name, TYPES[t][0], ne, off, n // bs * bb))
    data_start = (r.p + align - 1) // align * align
    end = 0
    for name, _, _, off, size in sorted(tensors, key=lambda x: x[3]):
        if off % align:
            raise ValueError("%s: offset %d not aligned to %d" % (name, off, align))
        if off < end:
            raise ValueError("%s overlaps the previous tensor" % name)
        end = off + size
        if data_start + end > len(data):
            raise ValueError("%s: data past end of file" % name)
    if len({t[0] for t in tensors}) != len(tensors):
        raise ValueError("duplicate tensor names")
    return kv, tensors


def main():
    types_only = sys.argv[1] == "--types"
    path = sys.argv[2] if types_only else sys.argv[1]
    try:
        kv, tensors = parse(path)
    except Exception as e:  # report any violation as a failure
        print("gguf_check: %s: %s" % (path, e))
        sys.exit(1)
    if types_only:
        for name, t, ne, _, _ in sorted(tensors):
            print(name, t, "x".join(map(str, ne)))
    else:
        print("gguf_check: %s: ok, %d keys, %d tensors, %d parameters" % (
            path, len(kv), len(tensors), sum(prod(t[2]) for t in tensors)))


if __name__ == "__main__":
    main()
