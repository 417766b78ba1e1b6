"""Intake of job folders and tarballs: a corpus of hostile and broken input, and good cases."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from lz.core.errors import BundleError, ResourceError
from lz.core.resources import Limits
from lz.intake.bundle import IntakeLimits, stage_bundle
from lz.intake.spec_file import load_spec
from tests.unit.corpus import bad_input, report_to

SMALL = IntakeLimits(max_bytes=10 << 20, max_files=1000, max_depth=16)


@pytest.fixture(autouse=True)
def _corpus(request: pytest.FixtureRequest) -> None:
    report_to(request.config)


def folder(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    job = tmp_path / "job"
    job.mkdir(parents=True)
    for name, text in (files or {"run.sh": "echo hi\n", "lz.toml": 'command = ["sh", "run.sh"]\n'}).items():
        (job / name).parent.mkdir(parents=True, exist_ok=True)
        (job / name).write_text(text)
    return job


def tarball(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> Path:
    path = tmp_path / "job.tar.gz"
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = mode
    return info


def refused(tmp_path: Path, source: Path, match: str, limits: IntakeLimits = SMALL) -> None:
    dest = tmp_path / "spool" / "job1"
    dest.parent.mkdir(exist_ok=True)
    with bad_input(BundleError, match):
        stage_bundle(source, dest, limits)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == [], "nothing half-stored"


# -- hostile tarballs ----------------------------------------------------------------------------
@pytest.mark.parametrize("members,match", [
    ([(member("../evil"), b"x")], r"\.\./evil: '\.\.' would leave"),
    ([(member("job/../../evil"), b"x")], "would leave the job folder"),
    ([(member("/etc/cron.d/evil"), b"x")], "/etc/cron.d/evil: absolute paths"),
    ([(member("link", tarfile.SYMTYPE, "/etc/passwd"), None)], "link: symlink to an absolute path"),
    ([(member("a/link", tarfile.SYMTYPE, "../../outside"), None)], "a/link: symlink to ../../outside points outside"),
    ([(member("hard", tarfile.LNKTYPE, "/etc/passwd"), None)], "hard: hard link to /etc/passwd"),
    ([(member("hard", tarfile.LNKTYPE, "missing.txt"), None)], "not a file of this job"),
    ([(member("dev", tarfile.CHRTYPE), None)], "dev: device files are not allowed"),
    ([(member("fifo", tarfile.FIFOTYPE), None)], "fifo: fifo files"),
    ([(member("new\nline.txt"), b"x")], r"new\\nline.txt: file name has control characters"),
    ([(member("dir", tarfile.SYMTYPE, "."), None), (member("dir/x"), b"x")], "written through the symlink"),
    ([(member("a.txt"), b"x"), (member("a.txt"), b"y")], "appears twice"),
    ([(member("x"), b"1"), (member("x/y"), b"2")], "x/y: x is not a directory"),
    ([(member("d/x"), b"1"), (member("d"), b"2")], r"d: cannot be unpacked \(File exists\)"),
    ([(member("n" * 300), b"1")], r"cannot be unpacked \(File name too long\)"),
    ([(member("d", tarfile.DIRTYPE), None), (member("h", tarfile.LNKTYPE, "d"), None)], "not a file of this job"),
    ([(member(".", tarfile.REGTYPE), b"x")], "empty name"),
])
def test_hostile_tarballs_are_refused(tmp_path: Path, members: list, match: str) -> None:
    refused(tmp_path, tarball(tmp_path, members), match)


def test_invalid_utf8_name(tmp_path: Path) -> None:
    path = tmp_path / "job.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        info = member("caf\xe9.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    refused(tmp_path, path, r"caf\\udce9\.txt|not valid UTF-8")


def test_symlink_chain_climbing_out_is_refused(tmp_path: Path) -> None:
    members = [
        (member("d/x/y", tarfile.DIRTYPE), None),
        (member("d/x/y/l", tarfile.SYMTYPE, "../../.."), None),   # lexically inside: resolves to the root
        (member("m", tarfile.SYMTYPE, "d/x/y/l/.."), None),      # lexically inside: resolves above the root
    ]
    refused(tmp_path, tarball(tmp_path, members), "m: symlink to d/x/y/l/.. points outside")


def test_decompression_bomb_is_stopped_early(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = member("zeros.bin")
        info.size = 50 << 20
        tar.addfile(info, io.BytesIO(bytes(50 << 20)))
    assert path.stat().st_size < 1 << 20
    refused(tmp_path, path, "larger than 10 MiB once unpacked")


def test_too_many_files(tmp_path: Path) -> None:
    members = [(member(f"f{i}"), b"") for i in range(20)]
    refused(tmp_path, tarball(tmp_path, members), "too many files", IntakeLimits(max_files=10))


def test_corrupt_and_missing_sources(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    refused(tmp_path, bad, "bad.tar.gz: ")
    refused(tmp_path, tmp_path / "nope", "no such file or directory")


# -- hostile folders -------------------------------------------------------------------------------
def test_folder_symlink_outside_and_fifo(tmp_path: Path) -> None:
    job = folder(tmp_path)
    os.symlink("/etc/passwd", job / "passwd")
    refused(tmp_path, job, "passwd: symlink to an absolute path")
    (job / "passwd").unlink()
    os.symlink("../../secret", job / "up")
    refused(tmp_path, job, "up: symlink to ../../secret points outside")
    (job / "up").unlink()
    os.mkfifo(job / "pipe")
    refused(tmp_path, job, "pipe: fifo files are not allowed")


def test_folder_control_character_name_and_depth(tmp_path: Path) -> None:
    job = folder(tmp_path)
    (job / "tab\there").write_text("x")
    refused(tmp_path, job, r"tab\\there: file name has control characters")
    (job / "tab\there").unlink()
    deep = job
    for i in range(20):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    refused(tmp_path, job, "nested deeper than 16")


# -- good input ----------------------------------------------------------------------------------
def test_folder_copy_keeps_links_and_modes_and_never_touches_the_source(tmp_path: Path) -> None:
    job = folder(tmp_path, {"run.sh": "echo hi\n", "data/a.txt": "a\n"})
    os.chmod(job / "run.sh", 0o4755)  # setuid must not survive
    os.symlink("data/a.txt", job / "alias")
    before = sorted((p.relative_to(job), p.lstat().st_mtime_ns) for p in job.rglob("*"))
    dest = tmp_path / "spool" / "j"
    dest.parent.mkdir()
    stage_bundle(job, dest, SMALL)
    assert os.readlink(dest / "alias") == "data/a.txt"
    assert (dest / "run.sh").stat().st_mode & 0o7777 == 0o755
    assert (dest / "data" / "a.txt").read_text() == "a\n"
    assert sorted((p.relative_to(job), p.lstat().st_mtime_ns) for p in job.rglob("*")) == before


def test_tarball_with_and_without_top_directory(tmp_path: Path) -> None:
    for top in ("job/", ""):
        base = tmp_path / (top.strip("/") or "flat")
        base.mkdir()
        members = [(member(f"{top}run.sh", mode=0o755), b"echo hi\n"),
                   (member(f"{top}link", tarfile.SYMTYPE, "run.sh"), None),
                   (member(f"{top}copy", tarfile.LNKTYPE, f"{top}run.sh"), None)]
        dest = base / "spool" / "j"
        dest.parent.mkdir()
        stage_bundle(tarball(base, members), dest, SMALL)
        assert sorted(p.name for p in dest.iterdir()) == ["copy", "link", "run.sh"]
        assert os.access(dest / "run.sh", os.X_OK) and os.readlink(dest / "link") == "run.sh"
        assert (dest / "copy").read_text() == "echo hi\n"


# -- lz.toml ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("toml,match", [
    ('command = ["sh"]\ncolour = "red"\n', "lz.toml: unknown key 'colour'"),
    ('command = "sh run.sh"\n', "argv list"),
    ('command = []\n', "non-empty list"),
    ('command = ["-rf"]\n', "must start with a program"),
    ('command = ["sh"]\nname = "$(reboot)"\n', r"job name '\$\(reboot\)'"),
    ('command = ["sh"]\nname = "a b"\n', "job name 'a b'"),
    ('command = ["sh"]\nenv = { "BAD-NAME" = "x" }\n', "BAD-NAME"),
    ('command = ["sh"\n', "lz.toml: "),
    ("", "no recipe"),
])
def test_bad_spec(tmp_path: Path, toml: str, match: str) -> None:
    job = folder(tmp_path, {"lz.toml": toml, "run.sh": ""})
    with bad_input(BundleError, match):
        load_spec(job)


@pytest.mark.parametrize("resources,match", [
    ("cpus = 0", "cpus must be at least 1"), ('memory = "lots"', "memory 'lots'"),
    ('time = "25:99:99"', "time '25:99:99'"), ('partition = "a;b"', "partition 'a;b'"), ("nodelist = 3", "unknown resource"),
])
def test_bad_resources(tmp_path: Path, resources: str, match: str) -> None:
    job = folder(tmp_path, {"lz.toml": f'command = ["sh"]\n[resources]\n{resources}\n'})
    with bad_input(ResourceError, match):
        load_spec(job)


def test_limits_flags_and_recipes(tmp_path: Path) -> None:
    job = folder(tmp_path, {"lz.toml": 'command = ["sh"]\n[resources]\ncpus = 2\ntime = "01:00:00"\n',
                            "Dockerfile": "FROM busybox\n"})
    spec = load_spec(job, overrides={"cpus": "4", "memory": None})
    assert spec.resources.cpus == 4 and spec.resources.time_s == 3600 and spec.recipe == "Dockerfile"
    with pytest.raises(ResourceError, match=r"cpus 4 is more than this site allows \(2\)"):
        load_spec(job, overrides={"cpus": "4"}, limits=Limits(max_cpus=2))
    (job / "app.def").write_text("Bootstrap: docker\nFrom: busybox\n")
    with pytest.raises(BundleError, match="more than one recipe"):
        load_spec(job)
    assert load_spec(folder(tmp_path / "b", {"Singularity": "x"}), require_command=False).recipe_kind == "singularity"


# -- lz.toml: the recipe stays inside the folder (defect 7) ------------------------------------
SECRET = "FROM secret-registry.example/only-root-may-read-this\n"


@pytest.mark.parametrize("recipe", [
    "../../secret.Dockerfile", "../" * 30 + "etc/passwd", "/etc/passwd", "sub/../../../secret.Dockerfile",
    "link/Dockerfile", "linkfile.Dockerfile", "", "sub", "./", "a\0b", 5,
])
def test_recipe_must_be_a_file_inside_the_folder(tmp_path: Path, recipe: object) -> None:
    (tmp_path / "secret.Dockerfile").write_text(SECRET)
    job = folder(tmp_path / "j", {"lz.toml": f'command = ["sh"]\nrecipe = {_toml(recipe)}\n',
                                  "sub/Dockerfile": "FROM busybox\n"})
    os.symlink(tmp_path / "j" / "job" / "sub", job / "link")  # a link, even to inside, is not followed
    os.symlink(tmp_path / "secret.Dockerfile", job / "linkfile.Dockerfile")
    with bad_input(BundleError, "lz.toml: recipe") as _:
        load_spec(job)
    try:
        load_spec(job)
    except BundleError as exc:
        assert "secret-registry" not in str(exc) and "root:" not in str(exc)


def test_recipe_in_a_subfolder_is_fine(tmp_path: Path) -> None:
    job = folder(tmp_path, {"lz.toml": 'recipe = "env/app.def"\n', "env/app.def": "Bootstrap: docker\n"})
    spec = load_spec(job, require_command=False)
    assert spec.recipe == "env/app.def" and spec.recipe_kind == "singularity"


def _toml(value: object) -> str:
    return '"a\\u0000b"' if value == "a\0b" else f'"{value}"' if isinstance(value, str) else str(value)


# -- lz.toml: one line, never a traceback (defect 12) ------------------------------------------------
def test_lz_toml_that_is_not_a_readable_file(tmp_path: Path) -> None:
    job = folder(tmp_path, {"run.sh": ""})
    (job / "lz.toml").mkdir()
    with bad_input(BundleError, "lz.toml: must be a regular file"):
        load_spec(job)
    (job / "lz.toml").rmdir()
    (job / "lz.toml").write_text("[" * 3000)
    with bad_input(BundleError, "lz.toml: "):
        load_spec(job)
    (job / "lz.toml").write_text("x = " + "[" * 3000 + "]" * 3000)
    with bad_input(BundleError, "lz.toml: nested too deeply"):
        load_spec(job)
    (job / "lz.toml").write_text("[resources]\ncpus = " + "9" * 5000 + "\n")
    with bad_input(BundleError, "lz.toml: a number too long"):
        load_spec(job)
    (job / "lz.toml").write_text("command = ['sh']\n# " + "x" * (2 << 20) + "\n")
    with bad_input(BundleError, r"lz.toml: larger than 1 MiB"):
        load_spec(job)


@pytest.mark.parametrize("resources,match", [
    ('cpus = "²"', "cpus '²' is not a whole number"),
    ('gpus = "١"', "gpus '١' is not a whole number"),
    ('memory = "٣G"', "memory '٣G' is not a size"),
    ('time = "²"', "time '²' is not a SLURM time"),
    ('time = "1-²"', "time '1-²' is not a SLURM time"),
    ('time = "²:00"', "time '²:00' is not a SLURM time"),
    # absurd without [limits] (defect 13): refused with the numbers
    ("cpus = 99999999999999999999999", r"cpus 99999999999999999999999 is more than any landing zone offers \(at most 65536\)"),
    ('memory = "99999999999999999999T"', r"memory 99999999999999999999T is more than any landing zone offers \(at most 1024T\)"),
    (f'memory = "{"9" * 400}G"', "memory 9{20}.* is more than any"),
    ("memory = 1e400", "memory inf is not a size"),
    ("gpus = 100000", r"gpus 100000 is more than any landing zone offers \(at most 1024\)"),
    ('time = "999999999"', r"time .* is more than any landing zone offers \(at most 365-00:00:00\)"),
    (f"time = {'9' * 30}", "more than any landing zone offers"),
])
def test_resources_parse_ascii_only_and_refuse_the_absurd(tmp_path: Path, resources: str, match: str) -> None:
    job = folder(tmp_path, {"lz.toml": f'command = ["sh"]\n[resources]\n{resources}\n'})
    with bad_input(ResourceError, match):
        load_spec(job)


@pytest.mark.parametrize("flag,value,match", [
    ("time", "²", "time '²' is not a SLURM time"), ("cpus", "²", "cpus '²'"),
    ("cpus", "99999999999999999999999", "at most 65536"), ("memory", "1e9G", "memory '1e9G' is not a size"),
])
def test_flags_are_parsed_the_same_way(tmp_path: Path, flag: str, value: str, match: str) -> None:
    with bad_input(ResourceError, match):
        load_spec(folder(tmp_path), overrides={flag: value})


def test_a_recipe_is_small(tmp_path: Path) -> None:
    """It is read whole, at intake and at build time: a 1 GB "Dockerfile" is refused, not loaded."""
    job = folder(tmp_path, {"lz.toml": 'command = ["sh"]\n'})
    with open(job / "Dockerfile", "wb") as big:
        big.truncate(2 << 20)
    with bad_input(BundleError, r"Dockerfile: a recipe larger than 1 MiB \(2097152 bytes\)"):
        load_spec(job)


def test_tasks_and_nodes_from_lz_toml_and_flags(tmp_path: Path) -> None:
    job = folder(tmp_path, {"lz.toml": 'command = ["sh"]\n[resources]\ndistributed = true\ncpus = 4\nmemory = "8G"\n'})
    spec = load_spec(job)
    assert (spec.resources.task_count, spec.resources.cpus_per_task, spec.resources.distributed) == (4, 1, True)
    other = folder(tmp_path / "b", {"lz.toml": 'command = ["sh"]\n[resources]\ntasks = 4\n'})
    spec = load_spec(other, overrides={"nodes": "2", "tasks_per_node": "2"})
    assert (spec.resources.tasks, spec.resources.nodes, spec.resources.tasks_per_node) == (4, 2, 2)
    with pytest.raises(ResourceError, match=r"lz.toml or flags: nodes 2 is more than this site allows \(1\)"):
        load_spec(other, overrides={"nodes": "2"}, limits=Limits(max_nodes=1))
    with pytest.raises(ResourceError, match="give either distributed or tasks"):
        load_spec(job, overrides={"tasks": "2"})
