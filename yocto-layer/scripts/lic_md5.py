#!/usr/bin/env python3
"""Keep the md5sums of the project's licence files in meta-skycount in step.

Our recipes check LICENSE-MIT and LICENSE-APACHE at the repository's top
through SKYCOUNT_LIC_FILES_CHKSUM (classes/skycount_src.bbclass). bitbake
refuses to build when a checksum does not match its file, so:

    yocto-layer/scripts/lic_md5.py           # write the files' md5sums into the class
    yocto-layer/scripts/lic_md5.py --check   # exit 1 when they differ, or a file is missing
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLASS = HERE.parent / "meta-skycount/classes/skycount_src.bbclass"
FILES = ("LICENSE-MIT", "LICENSE-APACHE")
LINE = re.compile(r"(file://(LICENSE-[A-Z]+);md5=)([^ \\\"]*)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    text = CLASS.read_text()
    found = {m.group(2): m.group(3) for m in LINE.finditer(text)}
    want: dict[str, str] = {}
    missing = []
    for name in FILES:
        path = REPO / name
        if not path.is_file():
            missing.append(name)
            continue
        want[name] = hashlib.md5(path.read_bytes()).hexdigest()
    if set(found) != set(FILES):
        print(f"{CLASS.name}: SKYCOUNT_LIC_FILES_CHKSUM must list {', '.join(FILES)}; it lists {sorted(found)}")
        return 1
    if missing:
        print("missing at the repository's top: " + ", ".join(missing)
              + " (the project is MIT OR Apache-2.0; the recipes package both texts)")
        return 1
    stale = {n: (found[n], want[n]) for n in FILES if found[n] != want[n]}
    if not stale:
        print("licence checksums match " + ", ".join(FILES))
        return 0
    if args.check:
        for n, (have, should) in stale.items():
            print(f"{n}: {CLASS.name} says md5={have}, the file's md5 is {should}")
        print("run yocto-layer/scripts/lic_md5.py to update them")
        return 1
    new = LINE.sub(lambda m: m.group(1) + want[m.group(2)], text)
    CLASS.write_text(new)
    print("updated " + ", ".join(f"{n} md5={want[n]}" for n in stale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
