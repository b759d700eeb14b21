"""Annotated frames in skycount's manifest + points form: the shared test sets and the box's exports.

A set is a folder (or a `.tar`/`.tar.gz` archive of one) holding

    manifest.csv      one row per image: file, width, height, gt_count, ... (extra columns allowed)
    gt_points.json    {file: [[x, y], ...]}: one point per person, in the image's own pixels

which is the form of `../shared/testdata/*` and of the archive `skycountd` exports from the
dashboard (`/api/operator/annotations.tar`). Optional beside them:

    ignore_regions.json {file: [[x, y, w, h], ...]}: areas nobody annotated (VisDrone's ignored
                      regions: far crowds, reflections); a person there is not in `gt_count`, so
                      training gives them no density target and no loss, and eval masks them

The export adds three optional columns:

    labelled_box      "x,y,w,h": only this box of the frame was annotated (empty: the whole frame)
    stream            the stream path the frame came from
    group             frames that must stay on the same side of a train/test split (one flight,
                      one sequence): near-duplicate frames of one scene must never be split

Without `group`, frames are grouped by `stream`, else by `clip` (VisDrone's clip id), else by their
file name without its last `_N` (`dronecrowd_seq011_4.jpg` -> `dronecrowd_seq011`), which is how
the shared sets name sequences.
"""

import csv
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

MAX_ARCHIVE_BYTES = 4 << 30


@dataclass
class Frame:
    name: str
    group: str
    load: object = field(repr=False)  # () -> PIL.Image in RGB
    width: int = 0
    height: int = 0
    points: list = field(default_factory=list)  # [[x, y], ...] in the frame's pixels
    box: tuple = None  # (x, y, w, h) labelled region, or None for the whole frame
    ignore: list = field(default_factory=list)  # [(x, y, w, h), ...] regions nobody annotated
    set: str = ""  # the set (folder or archive) the frame comes from

    def region(self):
        """The labelled region as (x, y, w, h)."""
        return self.box or (0.0, 0.0, float(self.width), float(self.height))

    def points_in_box(self):
        x, y, w, h = self.region()
        return [p for p in self.points if x <= p[0] <= x + w and y <= p[1] <= y + h and not self.ignored(p)]

    def ignored(self, p):
        """Whether the point `p` lies in a region nobody annotated."""
        return any(x <= p[0] <= x + w and y <= p[1] <= y + h for x, y, w, h in self.ignore)


class DataError(SystemExit):
    pass


def _group_of(row, name):
    if row.get("group"):
        return row["group"]
    if row.get("stream"):
        return row["stream"]
    if row.get("clip"):
        return f"clip{row['clip']}"
    stem = Path(name).stem
    return re.sub(r"_\d+$", "", stem) or stem


def _parse_box(text, name):
    if not text or not text.strip():
        return None
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise DataError(f"{name}: labelled_box {text!r} is not x,y,w,h")
    if w <= 0 or h <= 0:
        raise DataError(f"{name}: labelled_box {text!r} is empty")
    return (x, y, w, h)


def _ignore_regions(text, origin):
    if text is None:
        return {}
    try:
        regions = json.loads(text)
        return {name: [tuple(float(v) for v in r[:4]) for r in rs] for name, rs in regions.items()}
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as e:
        raise DataError(f"{origin}: ignore_regions.json is not {{file: [[x, y, w, h], ...]}} ({e})")


def _frames(manifest_text, points_text, open_image, origin, ignore_text=None):
    try:
        points = json.loads(points_text)
    except json.JSONDecodeError as e:
        raise DataError(f"{origin}: gt_points.json is not JSON ({e})")
    ignore = _ignore_regions(ignore_text, origin)
    rows = list(csv.DictReader(io.StringIO(manifest_text)))
    if not rows or "file" not in rows[0]:
        raise DataError(f"{origin}: manifest.csv has no rows or no `file` column")
    out = []
    for row in rows:
        name = row["file"]
        if name not in points:
            raise DataError(f"{origin}: {name} has no points in gt_points.json")
        pts = [[float(p[0]), float(p[1])] for p in points[name]]
        f = Frame(
            name=name,
            group=_group_of(row, name),
            load=(lambda n=name: open_image(n)),
            width=int(row.get("width") or 0),
            height=int(row.get("height") or 0),
            points=pts,
            box=_parse_box(row.get("labelled_box"), name),
            ignore=ignore.get(name, []),
            set=str(origin),
        )
        if not f.width or not f.height:
            with f.load() as im:
                f.width, f.height = im.size
        out.append(f)
    return out


def set_root(path):
    """The folder or archive that names a set (`Frame.set`), from what the user gave."""
    path = Path(path)
    return path.parent if path.is_file() and path.name == "manifest.csv" else path


def load(path):
    """The frames of one set (a folder, a manifest.csv in it, or an archive of one)."""
    path = set_root(path)
    if path.is_dir():
        m, p = path / "manifest.csv", path / "gt_points.json"
        for f in (m, p):
            if not f.is_file():
                raise DataError(f"{path}: no {f.name} (a set is manifest.csv + gt_points.json + images)")

        def open_image(name):
            return Image.open(path / name).convert("RGB")

        ign = path / "ignore_regions.json"
        return _frames(m.read_text(), p.read_text(), open_image, path, ign.read_text() if ign.is_file() else None)
    if path.is_file() and tarfile.is_tarfile(path):
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise DataError(f"{path}: larger than {MAX_ARCHIVE_BYTES >> 30} GiB")
        with tarfile.open(path) as tar:
            members = {m.name.split("/", 1)[-1] if "/" in m.name else m.name: m for m in tar.getmembers() if m.isfile()}
            blobs = {k: tar.extractfile(m).read() for k, m in members.items()}
        for need in ("manifest.csv", "gt_points.json"):
            if need not in blobs:
                raise DataError(f"{path}: the archive has no {need}")

        def open_image(name):
            if name not in blobs:
                raise DataError(f"{path}: the archive has no {name}")
            return Image.open(io.BytesIO(blobs[name])).convert("RGB")

        ign = blobs.get("ignore_regions.json")
        return _frames(
            blobs["manifest.csv"].decode(), blobs["gt_points.json"].decode(), open_image, path, ign.decode() if ign else None
        )
    raise DataError(f"{path}: not a folder with manifest.csv, nor a tar archive of one")
