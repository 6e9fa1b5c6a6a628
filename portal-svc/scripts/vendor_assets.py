"""Refresh the vendored front-end assets in src/portal_svc/static/vendor.

Reads the pinned versions in vendor_versions.json (the one place they are set), fetches each
package's published tarball with `npm pack` (the npm registry, whichever one npm is configured
for; no Node code runs), extracts the listed files and writes VERSIONS.txt with their hashes.
Only needed when a version changes: the vendored files are committed, so `make run` needs no Node.

    python portal-svc/scripts/vendor_assets.py
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS = HERE / "vendor_versions.json"
VENDOR = HERE.parent / "src" / "portal_svc" / "static" / "vendor"


def fetch(name: str, version: str, workdir: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--pack-destination", str(workdir), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return workdir / json.loads(out.stdout)[0]["filename"]


def main() -> int:
    pins = json.loads(PINS.read_text())["packages"]
    VENDOR.mkdir(parents=True, exist_ok=True)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for pin in pins:
            tarball = fetch(pin["name"], pin["version"], Path(tmp))
            with tarfile.open(tarball) as tar:
                for source, target in pin["files"].items():
                    member = tar.extractfile(f"package/{source}")
                    if member is None:
                        print(f"{pin['name']}: {source} not in the package", file=sys.stderr)
                        return 1
                    data = member.read()
                    (VENDOR / target).write_bytes(data)
                    digest = hashlib.sha256(data).hexdigest()
                    lines.append(f"{target}  {pin['name']}@{pin['version']}  sha256:{digest}")
    (VENDOR / "VERSIONS.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
