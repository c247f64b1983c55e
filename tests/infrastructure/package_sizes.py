"""Print the built layer's unzipped size and each function's package size (zipped, as deployed):
``python tests/infrastructure/package_sizes.py .aws-sam/build`` (after ``make build``)."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

LAYER_LIMIT_MB = 250  # Lambda's limit for a function and all its layers, unzipped


def unzipped_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def zipped_bytes(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder))
    return len(buffer.getvalue())


def main(build_dir: str) -> int:
    root = Path(build_dir)
    if not (root / "template.yaml").is_file():
        print(f"no build in {root}: run `make build` first", file=sys.stderr)
        return 1
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        unzipped, zipped = unzipped_bytes(folder), zipped_bytes(folder)
        kind = "layer   " if (folder / "python").is_dir() else "function"
        print(f"{kind} {folder.name:<24} unzipped {unzipped / 1e3:10.1f} kB   zipped {zipped / 1e3:10.1f} kB")
        if kind.startswith("layer") and unzipped > LAYER_LIMIT_MB * 1e6:
            print(f"  over Lambda's {LAYER_LIMIT_MB} MB unzipped limit", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build"))
