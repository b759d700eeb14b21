#!/usr/bin/env python3
"""The offline checks of yocto-layer/ and image/ (run through check.sh).

    checks.py [oelint] [kas] [crates] [licenses] [units] [hotspot] [config] [readme]

With no names, every check runs. Each prints what it looked at and its
findings; the summary at the end says which passed. Exit status 1 when any
failed.
"""

from __future__ import annotations

import atexit
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYER_TOP = HERE.parent  # yocto-layer/
LAYER = LAYER_TOP / "meta-skycount"
REPO = LAYER_TOP.parent
IMAGE = REPO / "image"
UNITS_DIR = Path(os.environ.get("SKYCOUNT_UNITS_DIR") or REPO / "systemd")

MACHINES = ("jetson-orin-nano-devkit", "raspberrypi4-64", "raspberrypi5")


def say(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------- oelint

def lint_targets() -> list[Path]:
    files = []
    for pattern in ("**/*.bb", "**/*.bbappend", "**/*.bbclass", "conf/layer.conf"):
        files += LAYER.glob(pattern)
    return sorted(set(files))


# Findings accepted, each for one reason:
#  - the crates .inc is written by oe-core's cargo-update-recipe-crates (and
#    byte-for-byte by cargo_crates_inc.py); its `SRC_URI += " \` layout is
#    oe-core's, the same as in oe-core's own *-crates.inc files.
ACCEPTED = [
    ("*-crates.inc", "oelint.vars.inconspaces"),
]
# Rules that need the network (HOMEPAGE reachability): off, the checks run offline.
SUPPRESSED = ["oelint.vars.homepageping"]
FINDING = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<sev>error|warning|info):(?P<rule>[^:]+):(?P<msg>.*)$")


def check_oelint() -> bool:
    files = lint_targets()
    say(f"oelint-adv --release wrynose on {len(files)} files "
        "(every .bb, .bbappend, .bbclass and layer.conf of meta-skycount)")
    oelint = shutil.which("oelint-adv", path=str(Path(sys.executable).parent)) or shutil.which("oelint-adv")
    if not oelint:
        say("  oelint-adv is not installed")
        return False
    cmd = [oelint, "--release", "wrynose", "--quiet", "--relpaths", "--jobs", "2",
           f"--constantmods=+{HERE / 'oelint-constants.json'}"]
    for rule in SUPPRESSED:
        cmd += ["--suppress", rule]
    proc = subprocess.run(cmd + [str(f.relative_to(LAYER)) for f in files], cwd=LAYER,
                          capture_output=True, text=True)
    counts = {"error": 0, "warning": 0, "info": 0}
    accepted = 0
    unparsed = []
    for line in (proc.stdout + proc.stderr).splitlines():
        m = FINDING.match(line.strip())
        if not m:
            if line.strip():
                unparsed.append(line)
            continue
        if any(fnmatch.fnmatch(Path(m["path"]).name, pat) and m["rule"] == rule for pat, rule in ACCEPTED):
            accepted += 1
            continue
        counts[m["sev"]] += 1
        if m["sev"] != "info":
            say(f"  {line.strip()}")
    for line in unparsed:
        say(f"  {line}")
    say(f"  {counts['error']} errors, {counts['warning']} warnings, {counts['info']} infos"
        f" ({accepted} accepted in the generated crates .inc: oe-core's format)")
    if unparsed and proc.returncode not in (0, 1):
        say(f"  oelint-adv failed (exit {proc.returncode})")
        return False
    # Warnings fail too: the layer is kept free of them (issue 14), so a new one is seen at once.
    return counts["error"] == 0 and counts["warning"] == 0 and check_appends_guarded()


ASSIGNMENT = re.compile(r"^(?P<var>[A-Za-z0-9_${}:.\-/+@]+?)(\[[^\]]+\])?\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)")


def check_appends_guarded() -> bool:
    """Adding the layer changes no other recipe: every assignment in an append
    carries the skycount distro override, and there are no tasks or inherits."""
    ok = True
    appends = sorted(LAYER.rglob("*.bbappend"))
    for f in appends:
        continued = False
        for n, line in enumerate(f.read_text().splitlines(), 1):
            text = line.strip()
            if continued:
                continued = text.endswith("\\")
                continue
            continued = text.endswith("\\")
            if not text or text.startswith("#"):
                continue
            m = ASSIGNMENT.match(text)
            if not m or ":skycount" not in m.group("var").split("[")[0]:
                say(f"  {f.relative_to(LAYER)}:{n}: not guarded by the skycount distro override: {text}")
                ok = False
    say(f"  {len(appends)} append(s), every line guarded by :skycount" if ok else
        "  appends must change other layers' recipes only for the skycount distro")
    return ok


# ------------------------------------------------------------------------ kas

def load_yaml(path: Path):
    import yaml
    with open(path) as f:
        return yaml.safe_load(f)


_KAS_CONTEXT = None


def kas_load(path: Path) -> dict:
    """The configuration as kas itself reads it: includes merged, schema checked.

    kas's loader needs its global context; it is made with a scratch work
    directory and default options, and nothing is fetched."""
    global _KAS_CONTEXT
    from kas.context import create_global_context
    from kas.includehandler import IncludeHandler

    class Defaults:
        def __getattr__(self, name):
            return None

    if _KAS_CONTEXT is None:
        work = tempfile.mkdtemp(prefix="skycount-kas-")
        atexit.register(shutil.rmtree, work, True)
        old = os.environ.get("KAS_WORK_DIR")
        os.environ["KAS_WORK_DIR"] = work
        try:
            _KAS_CONTEXT = create_global_context(Defaults())
        finally:
            if old is None:
                os.environ.pop("KAS_WORK_DIR", None)
            else:
                os.environ["KAS_WORK_DIR"] = old
    config, missing = IncludeHandler([str(path.resolve())], use_lock=False).get_config()
    if missing:
        raise ValueError(f"includes from repositories that are not checked out: {missing}")
    return config


def check_kas() -> bool:
    import jsonschema
    import kas
    schema_path = Path(kas.__file__).parent / "schema-kas.json"
    schema = json.loads(schema_path.read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    files = sorted(IMAGE.rglob("*.yml")) + sorted(IMAGE.rglob("*.yaml"))
    say(f"kas: {len(files)} files in image/ against kas {kas.__version__}'s schema-kas.json")
    ok = True
    for f in files:
        errors = sorted(validator.iter_errors(load_yaml(f)), key=lambda e: list(e.path))
        rel = f.relative_to(REPO)
        if errors:
            ok = False
            for e in errors:
                where = "/".join(str(p) for p in e.path) or "(top)"
                say(f"  {rel}: {where}: {e.message}")
        else:
            say(f"  {rel}: valid")

    # One file per machine. As kas reads it (includes merged), every fetched
    # repository is pinned to a full commit id on a named branch.
    sha = re.compile(r"^[0-9a-f]{40}$")
    for machine in MACHINES:
        f = IMAGE / f"{machine}.yml"
        if not f.exists():
            say(f"  image/{machine}.yml: missing")
            ok = False
            continue
        try:
            cfg = kas_load(f)
        except Exception as e:  # kas's own errors: bad include, version, schema
            say(f"  image/{machine}.yml: kas cannot load it: {type(e).__name__}: {e}")
            ok = False
            continue
        problems = []
        if cfg.get("machine") != machine:
            problems.append(f"machine is {cfg.get('machine')!r}")
        if cfg.get("distro") != "skycount":
            problems.append(f"distro is {cfg.get('distro')!r}")
        repos = cfg.get("repos") or {}
        local = [k for k, v in repos.items() if not (v or {}).get("url")]
        layers = [l for k in local for l in ((repos[k] or {}).get("layers") or {})]
        if "yocto-layer/meta-skycount" not in layers:
            problems.append("this repository's yocto-layer/meta-skycount is not a layer")
        pinned = 0
        for name, repo in repos.items():
            repo = repo or {}
            if not repo.get("url"):
                continue
            if not sha.match(str(repo.get("commit", ""))):
                problems.append(f"repo {name} is not pinned to a full commit id")
            elif not repo.get("branch"):
                problems.append(f"repo {name} names no branch for its commit")
            else:
                pinned += 1
        for p in problems:
            say(f"  image/{machine}.yml: {p}")
        if problems:
            ok = False
        else:
            say(f"  image/{machine}.yml: machine {machine}, {pinned} repositories pinned to commits")
    return ok


# --------------------------------------------------------------------- crates

# The Rust of the pinned oe-core (meta/recipes-devtools/rust/rust_1.94.1.bb).
OE_RUST = (1, 94, 1)


def check_crates() -> bool:
    say("crates: skycountd-crates.inc against Cargo.lock (cargo_crates_inc.py --check)")
    proc = subprocess.run([sys.executable, str(HERE / "cargo_crates_inc.py"), "--check"],
                          capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines()[:60]:
        say(f"  {line}")
    ok = proc.returncode == 0

    # Every crate must build with wrynose's Rust: compare their rust-version,
    # when cargo has their sources on this machine (no network needed).
    lock = tomllib.loads((REPO / "Cargo.lock").read_text())
    cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    registries = sorted((cargo_home / "registry/src").glob("*")) if (cargo_home / "registry/src").is_dir() else []
    needs, missing = [], 0
    for pkg in lock.get("package", []):
        if "crates.io" not in pkg.get("source", ""):
            continue
        manifest = next((r / f"{pkg['name']}-{pkg['version']}" / "Cargo.toml" for r in registries
                         if (r / f"{pkg['name']}-{pkg['version']}" / "Cargo.toml").is_file()), None)
        if manifest is None:
            missing += 1
            continue
        rv = (tomllib.loads(manifest.read_text()).get("package") or {}).get("rust-version")
        if isinstance(rv, str) and re.fullmatch(r"\d+(\.\d+){0,2}", rv):
            needs.append((tuple(int(x) for x in rv.split(".")) + (0,) * (3 - len(rv.split("."))), pkg["name"], rv))
    if missing:
        say(f"  rust-version: {missing} crates' sources are not in {cargo_home}/registry (cargo fetch); not compared")
    elif needs:
        top = max(needs)
        too_new = [f"{n} ({v})" for t, n, v in needs if t > OE_RUST]
        oe = ".".join(map(str, OE_RUST))
        if too_new:
            ok = False
            say(f"  rust-version: these need a newer Rust than wrynose's {oe}: {', '.join(too_new)}")
        else:
            say(f"  rust-version: the newest any crate asks for is {top[2]} ({top[1]}); wrynose ships {oe}")
    return ok


def check_licenses() -> bool:
    say("licenses: SKYCOUNT_LIC_FILES_CHKSUM against LICENSE-MIT and LICENSE-APACHE (lic_md5.py --check)")
    proc = subprocess.run([sys.executable, str(HERE / "lic_md5.py"), "--check"],
                          capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        say(f"  {line}")
    return proc.returncode == 0


# ---------------------------------------------------------------------- units

UNIT_SUFFIXES = (".service", ".socket", ".target", ".timer", ".path", ".mount")

# What the image puts on the root filesystem that units may execute: our
# recipes, the recipes they depend on, busybox (oe-core's defconfig) and
# systemd. usrmerge is on (/bin, /sbin and /lib are links into /usr).
IMAGE_EXECUTABLES = {
    "/usr/bin": """skycountd mediamtx rauc dnsmasq dhcp_release dhcp_lease_time
        systemctl systemd-notify systemd-run systemd-tmpfiles systemd-sysusers systemd-cat
        journalctl networkctl resolvectl busctl udevadm loginctl hostnamectl timedatectl
        sh ash cat chmod chown cp cut date dd df dirname basename echo env expr false grep
        egrep fgrep head hostname kill ln ls mkdir mknod mktemp more mount mountpoint mv
        nice pidof printf ps pwd readlink realpath rm rmdir sed sleep sort stat stty sync
        tail tee test [ touch tr true umount uname uniq wc which xargs awk find flock
        logger md5sum sha256sum nohup od seq setsid timeout usleep yes killall ping ping6
        nc wget nslookup traceroute""",
    "/usr/sbin": """hostapd hostapd_cli iw ip ifup ifdown udhcpc udhcpd modprobe insmod rmmod
        lsmod depmod sysctl hwclock rfkill switch_root pivot_root losetup fsck swapon swapoff
        mkswap fdisk fstrim klogd reboot halt poweroff""",
    "/usr/lib/systemd": """systemd systemd-networkd systemd-networkd-wait-online systemd-resolved
        systemd-timesyncd systemd-udevd""",
}


def owners_table() -> tuple[list[tuple[str, str]], str]:
    """SKYCOUNT_UNITS_OWNERS and the default owner, read from the class."""
    text = (LAYER / "classes/skycount_units.bbclass").read_text()
    m = re.search(r'^SKYCOUNT_UNITS_OWNERS \?= "(.*?)"', text, re.S | re.M)
    d = re.search(r'^SKYCOUNT_UNITS_DEFAULT_OWNER \?= "(.*?)"', text, re.M)
    if not m or not d:
        raise SystemExit("cannot read SKYCOUNT_UNITS_OWNERS from skycount_units.bbclass")
    pairs = [tuple(p.split(":", 1)) for p in m.group(1).replace("\\", " ").split()]
    return pairs, d.group(1)


def unit_owner(name: str, pairs, default: str) -> str:
    for owner, pattern in pairs:
        if fnmatch.fnmatch(name, pattern):
            return owner
    return default


def stub(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)


def run_class_install(root: Path, entries: list[str]) -> list[str]:
    """Run skycount_units_install from the class, as do_install would."""
    text = (LAYER / "classes/skycount_units.bbclass").read_text()
    m = re.search(r"^skycount_units_install\(\) \{\n(.*?)^\}", text, re.S | re.M)
    if not m:
        return ["cannot find skycount_units_install in skycount_units.bbclass"]
    # ${S}/systemd is the recipe's unpacked copy of the repository's systemd/.
    src = Path(tempfile.mkdtemp(dir=root.parent))
    os.symlink(UNITS_DIR.resolve(), src / "systemd")
    body = (m.group(1)
            .replace("${S}", str(src))
            .replace("${D}", str(root))
            .replace("${SKYCOUNT_UNITS}", " ".join(shlex.quote(e) for e in entries))
            .replace("${systemd_system_unitdir}", "/usr/lib/systemd/system")
            .replace("${nonarch_libdir}", "/usr/lib"))
    if "${" in body:
        return [f"skycount_units_install uses variables this check does not set: {set(re.findall(r'[$][{][^}]+[}]', body))}"]
    script = 'set -e\nbbfatal() { echo "$*" >&2; exit 1; }\n' + body
    shell = shutil.which("dash") or shutil.which("sh")
    proc = subprocess.run([shell, "-c", script], capture_output=True, text=True)
    if proc.returncode != 0:
        return [f"skycount_units_install failed: {(proc.stdout + proc.stderr).strip()}"]
    return []


def stage_root(root: Path, entries: list[str]) -> tuple[list[str], list[str]]:
    """Lay out the image's units and executables under root.

    Returns (units to verify, problems)."""
    problems: list[str] = []
    usr = root / "usr"
    for d in ("bin", "sbin", "lib"):
        (usr / d).mkdir(parents=True, exist_ok=True)
        os.symlink(f"usr/{d}", root / d)
    (root / "etc").mkdir()
    (root / "run").mkdir()
    (root / "var/lib").mkdir(parents=True)

    sysdir = usr / "lib/systemd/system"
    # systemd's own units (targets, networkd, ...): this machine's systemd.
    host_units = Path("/usr/lib/systemd/system")
    if not host_units.is_dir():
        host_units = Path("/lib/systemd/system")
    shutil.copytree(host_units, sysdir, symlinks=True)

    for directory, names in IMAGE_EXECUTABLES.items():
        for name in names.split():
            stub(root / directory.lstrip("/") / name)

    # Ours, installed by skycount_units.bbclass's own install function.
    problems += run_class_install(root, entries)
    verify = []
    for name in entries:
        src = UNITS_DIR / name
        if name.endswith(".d") and src.is_dir() and name not in ("tmpfiles.d", "sysusers.d"):
            if not any(src.glob("*.conf")):
                problems.append(f"systemd/{name}/ holds no *.conf drop-in")
            verify.append(name[:-2])  # the unit it changes
        elif name.endswith(UNIT_SUFFIXES) and src.is_file() and not name.split(".")[0].endswith("@"):
            verify.append(name)
    return sorted(set(verify)), problems


def check_sysusers(root: Path) -> list[str]:
    """What oe-core's do_rootfs makes of the staged sysusers.d files.

    wrynose's systemd_sysusers_check (meta/classes-recipe/rootfs-postcommands.bbclass)
    compares every `u` line with /etc/passwd. For an ID of the form UID:GROUPNAME it
    looks the group up and then joins the resulting tuple into its message, which
    raises TypeError: do_rootfs fails, whatever the users are."""
    problems = []
    for conf in sorted((root / "usr/lib/sysusers.d").glob("*.conf")):
        for n, line in enumerate(conf.read_text().splitlines(), 1):
            fields = line.split()
            if len(fields) < 3 or fields[0] != "u" or ":" not in fields[2]:
                continue
            group = fields[2].split(":", 1)[1]
            if group.isalpha():
                problems.append(
                    f"/{conf.relative_to(root).as_posix()}:{n}: `{line.strip()}`: an ID of the form "
                    "UID:GROUPNAME makes oe-core wrynose's systemd_sysusers_check "
                    "(rootfs-postcommands.bbclass) raise TypeError, and do_rootfs fails; write `-` "
                    f"instead of `{fields[2]}` when the group has the user's name (sysusers.d(5): "
                    "`u` then uses the group of that name)")
    return problems


def check_units() -> bool:
    entries = []
    if UNITS_DIR.is_dir():
        # As skycount_units.bbclass: documentation and tests (check.sh) are not installed.
        entries = sorted(n for n in os.listdir(UNITS_DIR)
                         if not n.startswith(".") and not n.endswith((".md", ".sh")))
    say(f"units: systemd-analyze verify on what the image installs from systemd/ ({len(entries)} entries)")
    if not entries:
        say("  systemd/ has no units: the image would start nothing")
        return False
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        say("  systemd-analyze not found (Debian: apt-get install systemd)")
        return False
    pairs, default = owners_table()
    for name in entries:
        say(f"  systemd/{name} -> {unit_owner(name, pairs, default)}")
    with tempfile.TemporaryDirectory(prefix="skycount-units-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        verify, problems = stage_root(root, entries)
        for p in problems:
            say(f"  {p}")
        ok = not problems
        for unit in verify:
            proc = subprocess.run([analyze, "verify", "--man=no", f"--root={root}", unit],
                                  capture_output=True, text=True, cwd="/")
            out = (proc.stdout + proc.stderr).replace(str(root), "").strip()
            if proc.returncode != 0 or out:
                ok = False
                say(f"  {unit}: FAILED (exit {proc.returncode})")
                for line in out.splitlines():
                    say(f"    {line}")
            else:
                say(f"  {unit}: verified")
        sysusers = check_sysusers(root)
        for p in sysusers:
            say(f"  {p}")
        if sysusers:
            ok = False
        else:
            names = ", ".join(c.name for c in sorted((root / "usr/lib/sysusers.d").glob("*.conf")))
            say(f"  sysusers.d: {names or 'none'}: readable by oe-core's systemd_sysusers_check")
        # A unit of ours starts only when enabled ([Install]) or pulled in by
        # another of ours (Wants=, Requires=, ... in a unit or a drop-in).
        pulled = set()
        texts = {}
        for path in sorted(UNITS_DIR.rglob("*")):
            if path.is_file():
                texts[path.relative_to(UNITS_DIR).as_posix()] = path.read_text()
        for text in texts.values():
            for m in re.finditer(r"^\s*(Wants|Requires|Requisite|BindsTo|Upholds|Also|Unit)\s*=\s*(.*)$", text, re.M):
                pulled.update(m.group(2).split())
        for name, text in texts.items():
            if "/" in name or not name.endswith(UNIT_SUFFIXES) or name.split(".")[0].endswith("@"):
                continue
            if not re.search(r"^\s*\[Install\]", text, re.M) and name not in pulled:
                say(f"  {name}: has no [Install] section and no unit of ours pulls it in: it would never start")
                ok = False
        return ok


# ------------------------------------------------------------ board configs

# Each machine, with the distro override that sets its skycount.toml apart.
BOARDS = {"jetson-orin-nano-devkit": "tegra", "raspberrypi4-64": None, "raspberrypi5": None}
CONFIG_RECIPE = LAYER / "recipes-skycount/skycount-config/skycount-config_1.0.bb"
DISTRO_CONF = LAYER / "conf/distro/skycount.conf"
# What bitbake expands for these machines (aarch64, usrmerge).
MACHINE_PATHS = {"libdir": "/usr/lib"}


def assignments(path: Path) -> dict[str, tuple[str, str]]:
    """NAME[:override] -> (operator, value) of the quoted =, ?= and ??= assignments
    of a bitbake file. Each file sets each name once."""
    text = path.read_text().replace("\\\n", " ")  # bitbake's line continuation
    found = {}
    for m in re.finditer(r"""^([A-Za-z0-9_:${}-]+)\s*(\?\?=|\?=|=)\s*(["'])(.*?)\3\s*$""", text, re.M):
        found.setdefault(m.group(1), (m.group(2), m.group(4)))
    return found


class Datastore:
    """The part of bitbake's datastore that a recipe's Python function uses here."""

    def __init__(self, values: dict[str, str]):
        self.values = values

    def getVar(self, name: str, expand: bool = True):  # noqa: N802 - bitbake's name
        value = self.values.get(name)
        return self.expand(value) if value is not None and expand else value

    def expand(self, text: str) -> str:
        def one(m):
            if m.group(1) not in self.values:
                raise KeyError(f"${{{m.group(1)}}} is not set in this check's datastore")
            return self.expand(self.values[m.group(1)])
        return re.sub(r"\$\{([A-Za-z0-9_]+)\}", one, text)


class BitbakeFatal(Exception):
    """bb.fatal() called by a recipe's function: bitbake would stop the task."""


class _Bb:
    @staticmethod
    def fatal(msg: str) -> None:
        raise BitbakeFatal(msg)


def run_python_task(recipe: Path, task: str, d: Datastore) -> None:
    """Run `python TASK() { ... }` of a recipe, as bitbake would, with datastore d."""
    m = re.search(rf"^python {task}\(\) \{{\n(.*?)^\}}", recipe.read_text(), re.S | re.M)
    if not m:
        raise ValueError(f"{recipe.name} has no `python {task}()`")
    scope = {"bb": _Bb}
    exec(compile(f"def {task}(d):\n{m.group(1)}", str(recipe), "exec"), scope)
    scope[task](d)


def board_config(override: str | None, build: Path, extra: dict | None = None) -> Path:
    """Run skycount-config's do_compile for a board (its distro override) into build
    (${B}); returns the skycount.toml written there. extra: local.conf settings.
    Raises BitbakeFatal where the build would stop."""
    recipe, distro = assignments(CONFIG_RECIPE), assignments(DISTRO_CONF)
    values = {}
    for name in {n.split(":")[0] for n in list(recipe) + list(distro)}:
        if recipe.get(name, ("",))[0] == "=":
            values[name] = recipe[name][1]  # the recipe's own setting wins
        elif override and f"{name}:{override}" in distro:
            values[name] = distro[f"{name}:{override}"][1]
        elif name in distro:
            values[name] = distro[name][1]
        elif name in recipe:
            values[name] = recipe[name][1]  # the recipe's ??= fallback
    values.update(MACHINE_PATHS)
    values.update(extra or {})
    values["UNPACKDIR"] = str(CONFIG_RECIPE.parent / "files")
    values["B"] = str(build)
    run_python_task(CONFIG_RECIPE, "do_compile", Datastore(values))
    return build / "skycount.toml"


def find_skycountd() -> Path | None:
    """$SKYCOUNTD, else the newest of the release and debug builds."""
    if os.environ.get("SKYCOUNTD"):
        return Path(os.environ["SKYCOUNTD"])
    builds = [p for p in (REPO / "target/release/skycountd", REPO / "target/debug/skycountd")
              if p.is_file() and os.access(p, os.X_OK)]
    return max(builds, key=lambda p: p.stat().st_mtime, default=None)


def skycountd_env(**settings: str) -> dict[str, str]:
    """The environment to run skycountd in: PATH and the given settings only.
    skycountd reads SKYCOUNT_<SECTION>__<KEY> overrides from its environment and
    refuses names it does not know, so none of the caller's SKYCOUNT_* variables
    (SKYCOUNT_UNITS_DIR, for one) may leak in."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **settings}


def check_config() -> bool | None:
    """skycount.toml per board, read by skycountd itself; MediaMTX's version."""
    say("config: skycount.toml per board (skycount-config's do_compile, then skycountd "
        "check-config); MediaMTX's recipe against skycountd's pinned version")
    ok = True
    skycountd = find_skycountd()
    with tempfile.TemporaryDirectory(prefix="skycount-config-") as tmp:
        for board, override in BOARDS.items():
            build = Path(tmp) / board
            build.mkdir()
            try:
                toml = board_config(override, build)
            except BitbakeFatal as e:
                say(f"  {board}: skycount-config's do_compile stops the build: {e}")
                ok = False
                continue
            if not skycountd:
                continue
            proc = subprocess.run([str(skycountd), "--config", str(toml), "check-config"],
                                  capture_output=True, text=True, env=skycountd_env(), timeout=30)
            if proc.returncode == 0:
                eps = re.search(r"^execution_providers = (.*)$", toml.read_text(), re.M).group(1)
                say(f"  {board}: skycount.toml valid (execution_providers = {eps}, hotspot enabled)")
            else:
                ok = False
                say(f"  {board}: skycountd check-config failed: {(proc.stdout + proc.stderr).strip()}")
    if not skycountd:
        say("  skycountd check-config: skipped, no skycountd build (cargo build, or set SKYCOUNTD)")

    # The MediaMTX the image ships is the one skycountd renders for.
    pinned = re.search(r'PINNED_VERSION: &str = "v([0-9.]+)"',
                       (REPO / "daemon/src/mediamtx/mod.rs").read_text()).group(1)
    recipes = sorted((LAYER / "recipes-multimedia/mediamtx").glob("mediamtx_*.bb"))
    versions = [r.stem.split("_", 1)[1] for r in recipes]
    if versions != [pinned]:
        ok = False
        say(f"  mediamtx: recipe version(s) {versions}, skycountd renders for v{pinned}: "
            f"rename the recipe to mediamtx_{pinned}.bb (and set its sha256)")
    else:
        recipe = recipes[0].read_text()
        if re.search(r"^SRC_URI\[sha256sum\]\s*=", recipe, re.M):
            say(f"  mediamtx: recipe v{pinned} matches skycountd's pinned version; sha256 pinned")
        else:
            ok = False
            say(f"  mediamtx: {recipes[0].relative_to(REPO)} has no SRC_URI[sha256sum]: bitbake "
                "would stop at do_fetch; set it from the release's checksums.sha256 (see the recipe)")
    ok = check_onnxruntime_version() and ok
    return ok if skycountd else (None if ok else False)


def check_onnxruntime_version() -> bool:
    """The Raspberry Pi's ONNX Runtime is the version the tests run: onnxruntime-prebuilt's
    version is models/requirements.txt's onnxruntime, and its wheel's sha256 is pinned."""
    want = re.search(r"^onnxruntime==([0-9.]+)", (REPO / "models/requirements.txt").read_text(), re.M)
    recipes = sorted((LAYER / "recipes-devtools/onnxruntime-prebuilt").glob("onnxruntime-prebuilt_*.bb"))
    versions = [r.stem.split("_", 1)[1] for r in recipes]
    if not want or versions != [want.group(1)]:
        say(f"  onnxruntime: recipe version(s) {versions}, models/requirements.txt pins "
            f"{want.group(1) if want else 'nothing'}: one version for the project (rename the recipe "
            "and set its wheel's path and sha256 from https://pypi.org/simple/onnxruntime/)")
        return False
    recipe = recipes[0].read_text()
    if not re.search(r"^SRC_URI\[sha256sum\]\s*=\s*\"[0-9a-f]{64}\"", recipe, re.M) or "${PV}" not in recipe:
        say(f"  onnxruntime: {recipes[0].relative_to(REPO)} needs its wheel's name with ${{PV}} and a sha256")
        return False
    say(f"  onnxruntime: recipe {want.group(1)} is models/requirements.txt's; wheel sha256 pinned")
    return True


# -------------------------------------------------------------------- hotspot

def unit_out_dir(unit: str) -> str:
    """The --out-dir its render-hotspot writes to, from systemd/UNIT."""
    text = (UNITS_DIR / unit).read_text()
    m = re.search(r"^ExecStartPre=\S*skycountd render-hotspot .*--out-dir (\S+)", text, re.M)
    return m.group(1) if m else ""


def check_hotspot() -> bool | None:
    """What the image's first and later boots do with the hotspot, with the real skycountd."""
    say("hotspot: the boards' skycount.toml through skycountd render-hotspot (first boot, "
        "reboot, build-time name and passphrase), dnsmasq --test, the login banner's link")
    skycountd = find_skycountd()
    if not skycountd:
        say("  skipped: no skycountd build (cargo build, or set SKYCOUNTD)")
        return None
    dnsmasq = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    ok = True

    def expect(cond: bool, what: str) -> None:
        nonlocal ok
        say(f"  {'ok  ' if cond else 'FAIL'} {what}")
        ok = ok and cond

    def render(toml: Path, box: Path) -> tuple[int, str, dict, Path]:
        """render-hotspot as skycount-hotspot.service runs it; box/state stands for
        its StateDirectory, box/run for /run. Returns exit status, output,
        hostapd.conf's settings and the output directory."""
        out = box / "run"
        env = skycountd_env(SKYCOUNT_HOTSPOT__PASSPHRASE_FILE=str(box / "state/passphrase"))
        proc = subprocess.run([str(skycountd), "--config", str(toml), "render-hotspot",
                               "--out-dir", str(out), "--network-dir", str(out)],
                              capture_output=True, text=True, env=env, timeout=30)
        conf = {}
        if (out / "hostapd.conf").exists():
            for line in (out / "hostapd.conf").read_text().splitlines():
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    conf[k] = v
        return proc.returncode, (proc.stdout + proc.stderr).strip(), conf, out

    def new_box(name: str) -> Path:
        box = Path(t) / name
        (box / "state").mkdir(parents=True, mode=0o700)
        (box / "build").mkdir()
        return box

    with tempfile.TemporaryDirectory(prefix="skycount-hotspot-") as t:
        for board, override in BOARDS.items():
            box = new_box(board)
            toml = board_config(override, box / "build")
            rc, out, conf, run = render(toml, box)
            pw = conf.get("wpa_passphrase", "")
            expect(rc == 0 and len(pw) == 12 and pw.isalnum(),
                   f"{board}: first boot generates a 12-character passphrase" + (f": {out}" if rc else ""))
            if rc:
                continue
            kept = box / "state/passphrase"
            expect(kept.read_text().strip() == pw and (kept.stat().st_mode & 0o077) == 0,
                   f"{board}: kept root-only in hotspot.passphrase_file")
            banner = (run / "hotspot.issue").read_text()
            ssid = tomllib.loads(toml.read_text())["hotspot"]["ssid"]
            expect(f"skycount Wi-Fi hotspot: {ssid}" in banner
                   and f"passphrase: {pw}" in banner and "http://192.168.50.1/" in banner,
                   f"{board}: the login banner shows the name, the passphrase and the dashboard")
            rc, out, again, _ = render(toml, box)
            expect(rc == 0 and again.get("wpa_passphrase") == pw, f"{board}: a reboot keeps it")
            if dnsmasq:
                proc = subprocess.run([dnsmasq, "--test", f"--conf-file={run / 'dnsmasq.conf'}"],
                                      capture_output=True, text=True, timeout=30)
                expect(proc.returncode == 0, f"{board}: dnsmasq --test on the rendered dnsmasq.conf"
                       + (f": {(proc.stdout + proc.stderr).strip()}" if proc.returncode else ""))
            else:
                say(f"  {board}: dnsmasq --test skipped (Debian: apt-get install dnsmasq)")

        # Set at build time (local.conf): skycount-config writes the name into the
        # TOML and the passphrase into ${B}/passphrase, which its do_install puts
        # into the StateDirectory (mode 0600).
        box = new_box("fleet")
        fleet = {"SKYCOUNT_HOTSPOT_SSID": 'Field "Team" 1', "SKYCOUNT_HOTSPOT_PASSPHRASE": "fleet passphrase 1"}
        toml = board_config(None, box / "build", fleet)
        shutil.copyfile(box / "build/passphrase", box / "state/passphrase")
        (box / "state/passphrase").chmod(0o600)
        rc, out, conf, run = render(toml, box)
        expect(rc == 0 and conf.get("wpa_passphrase") == "fleet passphrase 1"
               and conf.get("ssid2") == 'P"Field \\"Team\\" 1"'
               and "passphrase: fleet passphrase 1" in (run / "hotspot.issue").read_text(),
               "build-time SKYCOUNT_HOTSPOT_SSID (quotes and all) and SKYCOUNT_HOTSPOT_PASSPHRASE are used"
               + (f": {out}" if rc else ""))
        # Values skycountd would refuse at every start stop the build instead.
        for var, bad in (("PASSPHRASE", "short"), ("PASSPHRASE", "x" * 64), ("PASSPHRASE", "pässphrase"),
                         ("SSID", ""), ("SSID", "x" * 33), ("SSID", "tab\there")):
            try:
                board_config(None, Path(tempfile.mkdtemp(dir=t)), {f"SKYCOUNT_HOTSPOT_{var}": bad})
                stopped = False
            except BitbakeFatal:
                stopped = True
            shown = repr(bad if len(bad) <= 12 else bad[:12] + "...")
            expect(stopped, f"SKYCOUNT_HOTSPOT_{var} = {shown} stops the build")

    # The banner reaches the console: the image's /etc/issue.d link points at
    # the directory skycount-hotspot.service renders into.
    recipe = (LAYER / "recipes-connectivity/skycount-hotspot/skycount-hotspot_1.0.bb").read_text()
    link = re.search(r"ln -sf (\S+) \$\{D\}\$\{sysconfdir\}/issue.d/\S+\.issue\b", recipe)
    target = f"{unit_out_dir('skycount-hotspot.service')}/hotspot.issue"
    expect(bool(link) and link.group(1) == target,
           f"/etc/issue.d links to {link.group(1) if link else None}, the unit renders {target}")
    return ok


# --------------------------------------------------------------------- readme

def check_readme() -> bool:
    """yocto-check-layer's test_readme and test_security, strictly."""
    say("readme: meta-skycount's README and SECURITY files, as yocto-check-layer reads them")
    ok = True
    readmes = sorted(glob.glob(str(LAYER / "[Rr][Ee][Aa][Dd][Mm][Ee]*")))
    if not readmes:
        say("  no README in the layer's top directory")
        return False
    readme = Path(readmes[0])
    data = readme.read_text()
    if not data.strip():
        say(f"  {readme.name} is empty")
        return False
    if re.search("README", data, re.IGNORECASE):
        # yocto-check-layer would skip the checks below: do not let it.
        say(f"  {readme.name} mentions a README: yocto-check-layer would then skip its "
            "maintainer/patch/email checks; point elsewhere without that word")
        ok = False
    low = data.lower()
    for word, what in (("maintainer", "maintainer information"), ("patch", "patching instructions")):
        if word not in low:
            say(f"  {readme.name}: no {what} (the word '{word}')")
            ok = False
    if not re.search(r"[^@\s<]+@[^@\s>]+\.[a-z]{2,}", data):
        say(f"  {readme.name}: no email address")
        ok = False
    headings = [h.strip().lower() for h in re.findall(r"^#+\s*(.+)$", data, re.M)]
    for need in ("maintainers", "patch"):
        if not any(need in h for h in headings):
            say(f"  {readme.name}: no section heading about {need!r}")
            ok = False
    security = [p for p in (LAYER, REPO) for p in sorted(p.glob("SECURITY*"))]
    if not security or security[0].stat().st_size == 0:
        say("  no SECURITY.md (or similar) in the layer or at the repository's top")
        ok = False
    if ok:
        say(f"  {readme.relative_to(REPO)}: maintainers, patch policy, email address present; "
            f"{security[0].relative_to(REPO)} present")
    return ok


# ------------------------------------------------------------------- rauc

RAUC_FILES = LAYER / "dynamic-layers/rauc/recipes-core/rauc/files"
RAUC_KEYS = LAYER / "files/rauc-development"
BUNDLE_RECIPE = LAYER / "dynamic-layers/rauc/recipes-core/bundles/skycount-bundle_1.0.bb"
RPI_WKS = LAYER / "wic/skycount-rpi-ab.wks.in"
TEGRA_BACKEND = LAYER / "recipes-skycount/skycount-update/files/rauc-tegra-bootloader"
UPDATE_RECIPE = LAYER / "recipes-skycount/skycount-update/skycount-update_1.0.bb"


def check_rauc() -> bool:
    """Each board's RAUC system.conf against what the rest of the layer says (the bundle's
    compatible, the card's layout, the backend the recipe installs), the development keys, and
    a real verity bundle signed by them checked with RAUC against that keyring."""
    import configparser
    say("rauc: each board's system.conf, the development keys, a verity bundle checked by RAUC")
    ok = True

    def bad(msg: str) -> None:
        nonlocal ok
        ok = False
        say(f"  {msg}")

    bundle = BUNDLE_RECIPE.read_text()
    if 'RAUC_BUNDLE_COMPATIBLE = "skycount-${MACHINE}"' not in bundle:
        bad(f"{BUNDLE_RECIPE.name}: RAUC_BUNDLE_COMPATIBLE is not skycount-${{MACHINE}}")
    if 'RAUC_BUNDLE_FORMAT = "verity"' not in bundle:
        bad(f"{BUNDLE_RECIPE.name}: the bundles are not in the verity format the boxes ask for")
    # The Raspberry Pis' card: boot, slot A, slot B, data (wic numbers them 1 to 4).
    wks = [line.split() for line in RPI_WKS.read_text().splitlines() if line.startswith("part")]
    labels = [p[p.index("--label") + 1] for p in wks if "--label" in p]
    if labels != ["boot", "rootfs_a", "rootfs_b", "skycount-data"]:
        bad(f"{RPI_WKS.name}: partitions {labels}, expected boot, rootfs_a, rootfs_b, skycount-data")
    data_mount = (UNITS_DIR / "data.mount").read_text()
    if "What=/dev/disk/by-label/skycount-data" not in data_mount:
        bad("systemd/data.mount does not mount the partition labelled skycount-data")
    for machine in MACHINES:
        path = RAUC_FILES / machine / "system.conf"
        if not path.is_file():
            bad(f"no {path.relative_to(LAYER)}")
            continue
        conf = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
        conf.read(path)
        where = path.relative_to(LAYER)
        system = conf["system"] if conf.has_section("system") else {}
        want = {"compatible": f"skycount-{machine}", "data-directory": "/data/rauc",
                "bundle-formats": "-plain"}
        for key, value in want.items():
            if system.get(key) != value:
                bad(f"{where}: [system] {key} = {system.get(key)!r}, expected {value!r}")
        keyring = conf["keyring"] if conf.has_section("keyring") else {}
        if keyring.get("path") != "skycount-keyring.pem":
            bad(f"{where}: [keyring] path is not skycount-keyring.pem (what rauc-conf installs)")
        if keyring.get("use-bundle-signing-time") != "true":
            bad(f"{where}: [keyring] use-bundle-signing-time is not true (the box has no trusted clock)")
        slots = {s: conf[s] for s in conf.sections() if s.startswith("slot.rootfs.")}
        if sorted(v.get("bootname") for v in slots.values()) != ["A", "B"]:
            bad(f"{where}: the rootfs slots' bootnames are not A and B")
        devices = [slots[s].get("device") for s in sorted(slots)]
        if machine.startswith("raspberrypi"):
            if system.get("bootloader") != "uboot":
                bad(f"{where}: bootloader is not uboot")
            if devices != ["/dev/mmcblk0p2", "/dev/mmcblk0p3"]:
                bad(f"{where}: slots {devices}, but the card's slots are its partitions 2 and 3")
        else:
            backend = conf["handlers"].get("bootloader-custom-backend") if conf.has_section("handlers") else None
            if system.get("bootloader") != "custom" or backend != "/usr/libexec/skycount/rauc-tegra-bootloader":
                bad(f"{where}: not the custom backend skycount-update installs")
            if devices != ["/dev/disk/by-partlabel/APP", "/dev/disk/by-partlabel/APP_b"]:
                bad(f"{where}: slots {devices}, but NVIDIA's redundant layout has APP and APP_b")
        if ok:
            say(f"  {where}: compatible skycount-{machine}, slots {', '.join(devices)}, "
                f"bootloader {system.get('bootloader')}")
    if "rauc-tegra-bootloader" not in UPDATE_RECIPE.read_text():
        bad(f"{UPDATE_RECIPE.name} does not install rauc-tegra-bootloader")
    for script in (TEGRA_BACKEND, LAYER / "recipes-skycount/skycount-update/files/data-format",
                   LAYER / "dynamic-layers/rauc/recipes-core/bundles/files/skycount-hook.sh"):
        proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        if proc.returncode != 0:
            bad(f"{script.name}: not valid sh: {proc.stderr.strip()}")
    # The development keys: the certificate is issued by the keyring's CA.
    keyring, cert, key = (RAUC_KEYS / n for n in ("skycount-keyring.pem", "development-1.cert.pem",
                                                   "development-1.key.pem"))
    proc = subprocess.run(["openssl", "verify", "-CAfile", str(keyring), str(cert)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        bad(f"the development certificate does not verify against the keyring: {proc.stdout}{proc.stderr}")
    rauc = shutil.which("rauc")
    mksquashfs = shutil.which("mksquashfs") or shutil.which("mksquashfs", path="/usr/sbin:/sbin")
    if not rauc or not mksquashfs:
        say("  rauc or mksquashfs not installed (apt-get install rauc squashfs-tools): no bundle made")
        return ok if ok else False
    with tempfile.TemporaryDirectory(prefix="skycount-bundle-") as tmp:
        content = Path(tmp) / "content"
        content.mkdir()
        # A slot image of random bytes (the bundle's squashfs must be larger than 4 KiB).
        (content / "rootfs.ext4").write_bytes(os.urandom(64 * 1024))
        (content / "manifest.raucm").write_text(
            "[update]\ncompatible=skycount-raspberrypi5\nversion=0.0.0\n\n[bundle]\nformat=verity\n\n"
            "[image.rootfs]\nfilename=rootfs.ext4\n")
        out = Path(tmp) / "check.raucb"
        env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        proc = subprocess.run([rauc, "bundle", f"--cert={cert}", f"--key={key}", str(content), str(out)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            bad(f"rauc bundle with the development key failed: {proc.stderr.strip()}")
            return False
        proc = subprocess.run([rauc, "info", f"--keyring={keyring}", "--output-format=json", str(out)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            bad(f"rauc info refused the development-signed bundle: {proc.stderr.strip()}")
        else:
            info = json.loads(proc.stdout)
            say(f"  a verity bundle signed with the development key passes rauc info against the "
                f"development keyring (compatible {info['compatible']})")
    return ok


CHECKS = {
    "oelint": check_oelint,
    "kas": check_kas,
    "crates": check_crates,
    "licenses": check_licenses,
    "units": check_units,
    "hotspot": check_hotspot,
    "config": check_config,
    "readme": check_readme,
    "rauc": check_rauc,
}


def main(argv: list[str]) -> int:
    names = argv or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        say(f"unknown check(s): {' '.join(unknown)}; known: {' '.join(CHECKS)}")
        return 2
    results = {}
    for name in names:
        say(f"== {name}")
        try:
            results[name] = CHECKS[name]()
        except Exception as e:  # a broken check is a failed check, with its reason
            say(f"  {type(e).__name__}: {e}")
            results[name] = False
        say()
    say("== summary")
    for name, passed in results.items():
        say(f"  {'SKIP' if passed is None else 'PASS' if passed else 'FAIL'}  {name}")
    failed = sum(1 for p in results.values() if p is False)
    skipped = sum(1 for p in results.values() if p is None)
    say(f"checks: {len(results) - failed - skipped} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
