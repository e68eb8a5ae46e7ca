"""Assemble each worker's deploy bundle under build/<package>/, ready for `wrangler deploy`.

    python tools/bundle.py                      # all three workers
    python tools/bundle.py sync_worker          # some (package or worker names)
    python tools/bundle.py --no-vendor          # code only, no third-party packages
    python tools/bundle.py --pypi-only --skip asyncpg   # without the Pyodide package index
    python tools/bundle.py --out /tmp/bundles   # somewhere else than build/

then, for each worker:

    npx wrangler deploy --config build/sync_worker/wrangler.toml

What a bundle holds (the layout pywrangler projects have, so wrangler treats it as usual):

    build/sync_worker/
        wrangler.toml       a copy of sync_worker/wrangler.toml, whose main = "src/entry.py"
        src/entry.py        sync_worker/entry.py: the Worker's main module
        src/shared/         the shared package
        src/supabase/migrations/  the schema's SQL files, which the migrator reads
        src/sync_worker/    the worker's own package (without entry.py)
        python_modules/     the [project] dependencies of pyproject.toml and the Workers
                            Python SDK (workers-runtime-sdk), built for Pyodide

wrangler uploads every module under src/ by its path there (`shared/config.py`,
`sync_worker/app.py`), and the runtime puts src/ and python_modules/ on sys.path, so the
imports are the same as in the repo (`from shared.config import Settings`,
`from sync_worker.app import app`). Why a copy rather than `base_dir = ".."`: wrangler would
then scan the whole repository, and its default module rules (`**/*.txt`, `**/*.sql`, ...)
would pick up files from .venv and node_modules.

The packages are installed with pip for the Python version the worker's compatibility date
and flags select (3.14 from 2026-09-08), as Pyodide wheels: pure-Python wheels and
`pyemscripten`/`pyodide` platform wheels from PyPI and from the Pyodide package index that
pywrangler uses (asyncpg is only there). One install per Python version, cached in
build/.vendor/ (`--refresh` installs again), is copied into every bundle. Nothing here
needs more than pip and the two package indexes; `--pypi-only` needs PyPI alone (packages
only the Pyodide index has must then be skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
MIGRATIONS = Path("supabase") / "migrations"  # beside shared/, where shared/store finds it

WORKERS = {
    "sync_coordinator": "sync-coordinator",
    "sync_worker": "sync-worker",
    "webhook_handler": "webhook-handler",
}

# The Workers Python SDK (`from workers import ...`): since 2026-04-21 the runtime no longer
# provides it, the bundle does (pywrangler adds it to every project the same way).
SDK_PACKAGE = "workers-runtime-sdk"

SKIPPED_NAMES = {"__pycache__", ".wrangler", "node_modules", "python_modules"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class PythonTarget:
    """A Python Workers line: the CPython version, the Pyodide line that runs it, the wheel
    tags built for that line, and the package index the wheels come from.

    Every Pyodide release of a line shares one ABI (the wheel platform tag), so a wheel from
    the line's index runs on whichever release of the line the runtime has.
    """

    version: str
    pyodide: str  # the Pyodide line, e.g. "314" (314.0.x: Python 3.14.2, Emscripten 5.0.3)
    abi: str
    platforms: tuple[str, ...]
    pyodide_index: str

    def accepts(self, tag: str) -> bool:
        """Whether a wheel tag (`cp314-cp314-pyemscripten_2026_0_wasm32`) runs on this line."""
        _, abi, platform = tag.split("-")
        if platform == "any":
            return abi in ("none", "abi3") or abi == self.abi
        return platform in self.platforms and abi in (self.abi, "abi3")


# Mirrors pywrangler (workers-py): which compatibility flag or date selects which Python.
# Pyodide's index 314.0.7 is the first of the 314 line with asyncpg (pywrangler uses it too).
TARGETS = {
    "3.14": PythonTarget(
        "3.14",
        "314",
        "cp314",
        ("pyemscripten_2026_0_wasm32",),
        "https://index.pyodide.org/314.0.7",
    ),
    "3.13": PythonTarget(
        "3.13", "0.28", "cp313", ("pyodide_2025_0_wasm32",), "https://index.pyodide.org/0.28.3"
    ),
    "3.12": PythonTarget(
        "3.12",
        "0.27",
        "cp312",
        ("pyodide_2024_0_wasm32", "emscripten_3_1_58_wasm32"),
        "https://index.pyodide.org/0.27.7",
    ),
}
VERSION_SWITCHES = [  # (version, enable flag, disable flag, date it turns on by)
    ("3.14", "python_workers_314", "no_python_workers_314", date(2026, 9, 8)),
    ("3.13", "python_workers_20250116", "no_python_workers_20250116", date(2025, 9, 29)),
]


class BundleError(RuntimeError):
    pass


def package_name(name: str) -> str:
    """`sync-worker` or `sync_worker` -> `sync_worker`."""
    package = name.strip().strip("/").replace("-", "_")
    if package not in WORKERS:
        raise BundleError(f"unknown worker {name!r}; one of {', '.join(WORKERS)}")
    return package


def read_toml(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def python_target(config: dict) -> PythonTarget:
    """The Python version a wrangler config selects, as the runtime (and pywrangler) do."""
    flags = set(config.get("compatibility_flags") or [])
    if "python_workers" not in flags:
        raise BundleError("the python_workers compatibility flag is missing")
    compat_date = config.get("compatibility_date")
    if not compat_date:
        raise BundleError("compatibility_date is missing")
    day = date.fromisoformat(str(compat_date))
    for version, enable, disable, since in VERSION_SWITCHES:
        if enable in flags or (disable not in flags and day >= since):
            return TARGETS[version]
    return TARGETS["3.12"]


def check_schedule(config: dict, path: Path) -> None:
    """A worker with cron triggers says what each runs in `[vars.SCHEDULE]` (job -> cron);
    the two must name the same crons, or a job would never run (or a trigger do nothing)."""
    crons = set((config.get("triggers") or {}).get("crons") or [])
    schedule = (config.get("vars") or {}).get("SCHEDULE") or {}
    if not crons and not schedule:
        return
    scheduled = set(schedule.values())
    if crons != scheduled:
        raise BundleError(
            f"{path}: [triggers] crons {sorted(crons)} and the crons of [vars.SCHEDULE] "
            f"{sorted(scheduled)} must be the same"
        )


def requirements(skip: set[str]) -> list[str]:
    """The [project] dependencies of pyproject.toml plus the Workers SDK, minus `skip`."""
    deps = list(read_toml(ROOT / "pyproject.toml")["project"].get("dependencies", []))
    deps.append(SDK_PACKAGE)

    def name_of(requirement: str) -> str:
        for sep in "<>=!~[; ":
            requirement = requirement.split(sep, 1)[0]
        return requirement.lower().replace("_", "-")

    skipped = {s.lower().replace("_", "-") for s in skip}
    return [d for d in deps if name_of(d) not in skipped]


def foreign_wheels(folder: Path, target: PythonTarget) -> list[str]:
    """The installed packages in `folder` built for another Python or Pyodide than `target`."""
    foreign = []
    for wheel in sorted(folder.glob("*.dist-info/WHEEL")):
        tags = [
            line.partition(":")[2].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        if tags and not any(target.accepts(tag) for tag in tags):
            foreign.append(f"{wheel.parent.name.removesuffix('.dist-info')} ({', '.join(tags)})")
    return foreign


def check_wheels(folder: Path, target: PythonTarget) -> None:
    """Stop before a bundle ships a wheel the selected runtime cannot load."""
    foreign = foreign_wheels(folder, target)
    if foreign:
        raise BundleError(
            f"these packages are built for another runtime than the one the compatibility "
            f"date selects (Pyodide {target.pyodide}, Python {target.version}, "
            f"{'/'.join(target.platforms)}): {'; '.join(foreign)}. "
            "Rebuild with --refresh, or pin versions that have wheels for it."
        )


def copy_tree(source: Path, target: Path, exclude: set[str] = frozenset()) -> int:
    """Copy the files under `source` (no caches, no nested bundles); returns how many."""
    count = 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(part in SKIPPED_NAMES for part in relative.parts) or str(relative) in exclude:
            continue
        if path.is_dir() or path.suffix in SKIPPED_SUFFIXES:
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
        count += 1
    return count


def vendor(
    target: PythonTarget, reqs: list[str], pypi_only: bool, build: Path, refresh: bool = False
) -> Path:
    """Install `reqs` as Pyodide wheels into a folder cached under `build`; returns it."""
    key = hashlib.sha256(
        json.dumps([target.version, sorted(reqs), pypi_only]).encode()
    ).hexdigest()[:16]
    folder = build / ".vendor" / f"py{target.version}-{key}"
    if (folder / ".complete").exists() and not refresh:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(folder),
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        target.version,
        "--abi",
        target.abi,
    ]
    for platform in target.platforms:
        command += ["--platform", platform]
    if not pypi_only:
        command += ["--extra-index-url", target.pyodide_index]
    command += reqs
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        output = (result.stderr or result.stdout).strip().splitlines()
        hint = "" if pypi_only else f" (is {target.pyodide_index} reachable?)"
        raise BundleError(
            f"pip could not install {', '.join(reqs)} for Pyodide, Python {target.version}"
            + hint
            + ":\n"
            + "\n".join(line for line in output if not line.startswith("WARNING:"))[-4000:]
        )
    # Console scripts mean nothing in a Worker; pywrangler marks the folder the same way.
    shutil.rmtree(folder / "bin", ignore_errors=True)
    (folder / "pyvenv.cfg").touch()
    (folder / ".complete").write_text("\n".join(reqs) + "\n")
    return folder


def bundle(
    package: str,
    *,
    vendor_packages: bool = True,
    pypi_only: bool = False,
    skip: frozenset[str] | set[str] = frozenset(),
    build: Path = BUILD,
    refresh: bool = False,
) -> Path:
    """Assemble <build>/<package>/; returns the path of its wrangler.toml."""
    source = ROOT / package
    config_path = source / "wrangler.toml"
    config = read_toml(config_path)
    if config.get("main") != "src/entry.py":
        raise BundleError(f"{config_path}: main must be 'src/entry.py' (relative to the bundle)")
    if not (source / "entry.py").is_file():
        raise BundleError(f"{source / 'entry.py'} is missing")
    check_schedule(config, config_path)
    target = python_target(config)

    out = build / package
    shutil.rmtree(out, ignore_errors=True)
    src = out / "src"
    src.mkdir(parents=True)
    shutil.copy2(config_path, out / "wrangler.toml")
    shutil.copy2(source / "entry.py", src / "entry.py")
    copy_tree(ROOT / "shared", src / "shared")
    copy_tree(ROOT / MIGRATIONS, src / MIGRATIONS)
    copy_tree(source, src / package, exclude={"entry.py", "wrangler.toml"})

    if vendor_packages:
        vendored = vendor(target, requirements(skip), pypi_only, build, refresh)
        check_wheels(vendored, target)
        shutil.copytree(
            vendored, out / "python_modules", ignore=shutil.ignore_patterns(".complete")
        )
    return out / "wrangler.toml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workers", nargs="*", help="package or worker names (default: all)")
    parser.add_argument(
        "--no-vendor", action="store_true", help="assemble the code only, no python_modules/"
    )
    parser.add_argument(
        "--pypi-only",
        action="store_true",
        help="install from PyPI alone, not also from the Pyodide package index",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="leave this dependency out of python_modules/ (repeatable)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="install the packages again (newest matching versions), not from build/.vendor/",
    )
    parser.add_argument(
        "--out", type=Path, default=BUILD, help="where the bundles go (default: build/)"
    )
    args = parser.parse_args(argv)
    try:
        packages = [package_name(w) for w in args.workers] or list(WORKERS)
        for package in packages:
            config = bundle(
                package,
                vendor_packages=not args.no_vendor,
                pypi_only=args.pypi_only,
                skip=set(args.skip),
                build=args.out.resolve(),
                refresh=args.refresh,
            )
            shown = config.relative_to(ROOT) if config.is_relative_to(ROOT) else config
            print(f"{WORKERS[package]}: npx wrangler deploy --config {shown}")
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
