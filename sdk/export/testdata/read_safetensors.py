#!/usr/bin/env python3
"""An independent safetensors reader for the Go tests: only json and struct.

    python3 read_safetensors.py FILE

Parses FILE by the format's definition (8-byte little-endian header length,
JSON header of {name: {dtype, shape, data_offsets}} plus "__metadata__",
then the data section), checks the header alignment and that the tensors
tile the data section, and prints one JSON object:
{"header_len", "metadata", "tensors": {name: {dtype, shape, bytesum, sum}}}
where bytesum is the sum of the raw bytes and sum the float sum of the
values (accumulated in order, in double precision).
"""
import json
import struct
import sys

FORMATS = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i",
           "I16": "h", "I8": "b", "U8": "B", "BOOL": "?"}


def main(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    if n % 8 != 0:
        sys.exit("header length %d is not a multiple of 8" % n)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    at = 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, end = e["data_offsets"]
        if b != at:
            sys.exit("tensor %s starts at %d, expected %d" % (name, b, at))
        at = end
        chunk = data[b:end]
        count = 1
        for d in e["shape"]:
            count *= d
        code = FORMATS[e["dtype"]]
        if struct.calcsize(code) * count != len(chunk):
            sys.exit("tensor %s: %d bytes for shape %s" % (name, len(chunk), e["shape"]))
        vals = struct.unpack("<%d%s" % (count, code), chunk)
        total = 0.0
        for v in vals:
            total += float(v)
        out[name] = {"dtype": e["dtype"], "shape": e["shape"],
                     "bytesum": sum(chunk), "sum": total}
    if at != len(data):
        sys.exit("tensors end at %d but the data section has %d bytes" % (at, len(data)))
    json.dump({"header_len": n, "metadata": meta, "tensors": out}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
