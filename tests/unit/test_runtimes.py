"""Exact command lines of the container runtimes, the catalogue, conversions and selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.errors import BundleError, ConfigError
from lz.job import JobContext, JobSpec
from lz.layout import JobPaths
from lz.resources import Resources
from lz.runtimes.apptainer import ApptainerRuntime
from lz.runtimes.catalogue import ImageCatalogue, bases_of
from lz.runtimes.charliecloud import CharliecloudRuntime
from lz.runtimes.convert import definition_to_dockerfile, dockerfile_to_definition
from lz.runtimes.dockerfile import default_command
from lz.runtimes.none import NoneRuntime
from lz.runtimes.select import pick_runtime

W = "/w/lz-j1"


def job(**spec: object) -> JobContext:
    fields: dict = {"name": "j", "command": ("python3", "main.py", "a b"), **spec}
    return JobContext("j1", JobSpec(**fields), JobPaths(Path(W)))


def test_apptainer_as_root_builds_a_sif_and_execs_with_a_clean_env() -> None:
    runtime = ApptainerRuntime("apptainer", is_root=True)
    ctx = job(env={"B": "2", "A": "x y"})
    assert runtime.build_argv(ctx) == ["apptainer", "build", f"{W}/runtime/image.sif", f"{W}/runtime/job.def"]
    assert runtime.run_argv(ctx) == [
        "apptainer", "exec", "--contain", "--cleanenv", "--pwd", "/lz/work", "--bind", f"{W}/work:/lz/work",
        "--env=A=x y", "--env=B=2", f"{W}/runtime/image.sif", "python3", "main.py", "a b"]


def test_singularity_unprivileged_sandbox_with_gpus() -> None:
    runtime = ApptainerRuntime("singularity", is_root=False, sandbox=True)
    ctx = job(resources=Resources(gpus=2))
    assert runtime.build_argv(ctx) == ["singularity", "build", "--fakeroot", "--sandbox", f"{W}/runtime/sandbox",
                                       f"{W}/runtime/job.def"]
    assert runtime.run_argv(ctx) == [
        "singularity", "exec", "--contain", "--cleanenv", "--pwd", "/lz/work", "--bind", f"{W}/work:/lz/work",
        "--writable", "--nv", f"{W}/runtime/sandbox", "python3", "main.py", "a b"]
    assert runtime.writable_roots(ctx) == {"container": Path(f"{W}/runtime/sandbox")}


def test_apptainer_without_command_runs_the_runscript() -> None:
    runtime = ApptainerRuntime("apptainer", is_root=True)
    assert runtime.run_argv(job(command=None))[:2] == ["apptainer", "run"]


def test_charliecloud_argv() -> None:
    runtime = CharliecloudRuntime(ch_image=("/usr/bin/python3", "/usr/bin/ch-image"), ch_run="ch-run")
    ctx = job(env={"MODE": "$HOME"})
    assert runtime.build_argv(ctx) == ["/usr/bin/python3", "/usr/bin/ch-image", "--storage", f"{W}/runtime/storage",
                                       "build", "-t", "job", "-f", f"{W}/runtime/Dockerfile", f"{W}/work"]
    assert runtime.run_argv(ctx) == [
        "ch-run", "-b", f"{W}/work:/lz/work", "-c", "/lz/work", "--unset-env=*", "--env-no-expand",
        "--set-env=MODE=$HOME", f"{W}/runtime/storage/img/job", "--", "python3", "main.py", "a b"]
    assert runtime.import_argv(ctx, Path("/srv/busybox"), "busybox") == [
        "/usr/bin/python3", "/usr/bin/ch-image", "--storage", f"{W}/runtime/storage", "import", "/srv/busybox", "busybox"]


def test_none_runtime_passes_argv_and_env_verbatim() -> None:
    assert NoneRuntime().run_argv(job()) == ["python3", "main.py", "a b"]
    assert NoneRuntime().run_argv(job(env={"K": "v w"})) == ["env", "K=v w", "python3", "main.py", "a b"]


def test_catalogue_resolves_bases_offline() -> None:
    catalogue = ImageCatalogue({"busybox": Path("/srv/busybox")})
    assert catalogue.resolve("busybox") == Path("/srv/busybox")
    with pytest.raises(BundleError, match=r"base image 'ubuntu:22.04' is not in this site's catalogue \(known: busybox\)"):
        catalogue.check_recipe("FROM ubuntu:22.04\n", "dockerfile")
    assert ImageCatalogue({}, allow_pull=True).resolve("ubuntu") is None
    assert bases_of("FROM busybox AS build\nRUN x\nFROM build\nFROM --platform=x alpine\n", "dockerfile") == \
        ["busybox", "alpine"]
    assert bases_of("Bootstrap: localimage\nFrom: python-3.11\n%post\n", "singularity") == ["python-3.11"]
    assert bases_of("Bootstrap: scratch\n", "singularity") == ["scratch"]


def test_default_command_follows_docker_rules() -> None:
    assert default_command('FROM x\nCMD ["a", "b"]\n') == ["a", "b"]
    assert default_command('FROM x\nENTRYPOINT ["run"]\nCMD ["--fast"]\n') == ["run", "--fast"]
    assert default_command("FROM x\nCMD echo $HOME\n") == ["/bin/sh", "-c", "echo $HOME"]
    assert default_command("FROM x\nCMD a\nFROM y\n") is None


def test_conversions_report_what_they_drop() -> None:
    definition, warnings = dockerfile_to_definition("FROM busybox\nEXPOSE 80\nRUN echo hi\n", Path("/srv/bb"))
    assert definition.startswith("Bootstrap: localimage\nFrom: /srv/bb\n") and "echo hi" in definition
    assert warnings == ["Dockerfile: EXPOSE is not supported by Apptainer/Singularity and is ignored"]
    dockerfile, warnings = definition_to_dockerfile(
        "Bootstrap: localimage\nFrom: busybox\n%post\n  echo hi > /x\n%test\n  true\n")
    assert dockerfile.startswith("FROM busybox") and "RUN echo hi > /x" in dockerfile
    assert warnings == ["definition: %test has no Dockerfile equivalent and is ignored"]


def test_pick_runtime_prefers_apptainer_then_singularity_then_charliecloud() -> None:
    def which(present: set[str]):  # type: ignore[no-untyped-def]
        return lambda exe: f"/usr/bin/{exe}" if exe in present else None

    assert pick_runtime(None, which=which({"apptainer", "singularity", "ch-image", "ch-run"})).name == "apptainer"
    assert pick_runtime("auto", which=which({"singularity", "ch-image", "ch-run"})).name == "singularity"
    assert pick_runtime(None, which=which({"ch-image", "ch-run"})).name == "charliecloud"
    assert pick_runtime(None, which=which(set())).name == "none"
    with pytest.raises(ConfigError, match="runtime apptainer is not available here: apptainer not found"):
        pick_runtime("apptainer", which=which(set()))
