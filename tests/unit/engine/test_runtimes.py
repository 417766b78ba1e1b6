"""Exact command lines of the runtimes, base resolution, conversion warnings and runtime choice."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lz.core.errors import BuildError, BundleError, ConfigError
from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext
from lz.core.resources import Resources
from lz.runtimes.apptainer import ApptainerRuntime, localise_definition, unpack_argv
from lz.runtimes.base import save_default_command
from lz.runtimes.catalogue import ImageCatalogue, base_of, bases_of
from lz.runtimes.charliecloud import DEFAULT_PATH, CharliecloudRuntime
from lz.runtimes.convert import definition_to_dockerfile, dockerfile_to_definition
from lz.runtimes.dockerfile import default_command
from lz.runtimes.none import NoneRuntime
from lz.runtimes.select import ch_image_argv, pick_runtime

W = "/w/lz-J1"
CH_IMAGE = ["/usr/bin/python3", "/usr/bin/ch-image"]
HOST_ENV = ["env", f"APPTAINER_TMPDIR={W}/runtime/run-tmp", f"SINGULARITY_TMPDIR={W}/runtime/run-tmp"]
"""A run's temporary directory (a SIF unpacked where it cannot be mounted) is the job's, too."""


def job(root: str = W, **spec: object) -> JobContext:
    fields: dict = {"name": "j", "command": ("python3", "main.py", "a b"), **spec}
    return JobContext("J1", JobSpec(**fields), JobPaths(Path(root)))


def which(*present: str):  # type: ignore[no-untyped-def]
    return lambda exe: f"/usr/bin/{exe}" if exe in present else None


# -- Apptainer / Singularity --------------------------------------------------------------------
def test_apptainer_as_root_builds_a_sif_and_execs_with_a_clean_env() -> None:
    runtime = ApptainerRuntime("apptainer", is_root=True)
    ctx = job()
    assert runtime.build_argv(ctx) == ["apptainer", "build", f"{W}/runtime/image.sif", f"{W}/runtime/job.def"]
    assert runtime.run_argv(ctx) == [
        *HOST_ENV, "apptainer", "exec", "--contain", "--cleanenv", "--pwd", "/lz/work", "--bind", f"{W}/work:/lz/work",
        f"{W}/runtime/image.sif", "python3", "main.py", "a b"]
    assert runtime.writable_roots(ctx) == {}


def test_apptainer_env_values_go_through_env_inside_the_container() -> None:
    """Apptainer shell-evaluates --env, --env-file and APPTAINERENV_*; `env` takes argv words."""
    runtime = ApptainerRuntime("apptainer", is_root=True)
    hostile = {"B": "$(id -u)", "A": "$HOME \"q\" 'q' \\ ; x\ny"}
    argv = runtime.run_argv(job(env=hostile))
    assert argv[argv.index(f"{W}/runtime/image.sif") + 1:] == [
        "env", "A=$HOME \"q\" 'q' \\ ; x\ny", "B=$(id -u)", "python3", "main.py", "a b"]
    assert not any(a.startswith("--env") for a in argv)


def test_apptainer_unprivileged_uses_fakeroot() -> None:
    runtime = ApptainerRuntime("apptainer", is_root=False)
    assert runtime.build_argv(job()) == ["apptainer", "build", "--fakeroot", f"{W}/runtime/image.sif",
                                         f"{W}/runtime/job.def"]


def test_singularity_unprivileged_sandbox_with_gpus() -> None:
    runtime = ApptainerRuntime("singularity", is_root=False, sandbox=True)
    ctx = job(resources=Resources(gpus=2))
    assert runtime.name == "singularity"
    assert runtime.build_argv(ctx) == ["singularity", "build", "--fakeroot", "--sandbox", f"{W}/runtime/sandbox",
                                       f"{W}/runtime/job.def"]
    assert runtime.run_argv(ctx) == [
        *HOST_ENV, "singularity", "exec", "--contain", "--cleanenv", "--pwd", "/lz/work", "--bind", f"{W}/work:/lz/work",
        "--writable", "--nv", f"{W}/runtime/sandbox", "python3", "main.py", "a b"]
    assert runtime.writable_roots(ctx) == {"container": Path(f"{W}/runtime/sandbox")}


def test_apptainer_build_environment_is_explicit_and_per_job() -> None:
    daemon = {"PATH": "/bin", "USER": "u", "APPTAINER_BIND": "/site", "SINGULARITY_BIND": "/x", "TMPDIR": "/tmp",
              "http_proxy": "http://p"}
    runtime = ApptainerRuntime("apptainer", is_root=True, environ=daemon)
    tmp, cache = f"{W}/runtime/tmp", f"{W}/runtime/cache"
    assert runtime.build_environment(job()) == {
        "PATH": "/bin", "USER": "u", "APPTAINER_TMPDIR": tmp, "APPTAINER_CACHEDIR": cache,
        "SINGULARITY_TMPDIR": tmp, "SINGULARITY_CACHEDIR": cache}


def test_apptainer_without_command_runs_the_recorded_default_or_the_runscript(tmp_path: Path) -> None:
    runtime = ApptainerRuntime("apptainer", is_root=True)
    ctx = job(str(tmp_path), command=None)
    assert runtime.run_argv(ctx)[3:5] == ["apptainer", "run"]
    assert runtime.run_argv(ctx)[-1] == f"{tmp_path}/runtime/image.sif"
    with_env = job(str(tmp_path), command=None, env={"K": "v"})
    assert runtime.run_argv(with_env)[4] == "exec"
    assert runtime.run_argv(with_env)[-3:] == ["env", "K=v", "/.singularity.d/runscript"]
    ctx.paths.runtime.mkdir()
    save_default_command(ctx, ["/bin/sh", "-c", "echo $X"])
    assert runtime.run_argv(ctx)[4] == "exec" and runtime.run_argv(ctx)[-3:] == ["/bin/sh", "-c", "echo $X"]


def test_apptainer_definition_bases_become_local_images() -> None:
    catalogue = ImageCatalogue({"busybox": Path("/srv/busybox"), "py": Path("/srv/py.sif")})
    text = "Bootstrap: docker\nFrom: busybox\nStage: one\n\n%post\n  echo From: x\n"
    assert localise_definition(text, catalogue.resolve) == \
        "Bootstrap: localimage\nFrom: /srv/busybox\nStage: one\n\n%post\n  echo From: x\n"
    assert localise_definition("Bootstrap: localimage\nFrom: /anything/py.sif\n", catalogue.resolve) == \
        "Bootstrap: localimage\nFrom: /srv/py.sif\n"
    assert localise_definition("Bootstrap: scratch\n%files\n a /a\n", catalogue.resolve) == \
        "Bootstrap: scratch\n%files\n a /a\n"
    two = "Bootstrap: docker\nFrom: py\nStage: b\n%post\n  make\nBootstrap: docker\nFrom: busybox\n%files from b\n /x /x\n"
    assert localise_definition(two, catalogue.resolve) == (
        "Bootstrap: localimage\nFrom: /srv/py.sif\nStage: b\n%post\n  make\n"
        "Bootstrap: localimage\nFrom: /srv/busybox\n%files from b\n /x /x\n")
    with pytest.raises(BundleError, match="known: busybox, py"):
        localise_definition("Bootstrap: docker\nFrom: ubuntu\n", catalogue.resolve)


def test_apptainer_unpacks_tarball_bases_with_tar() -> None:
    assert unpack_argv(Path("/srv/alpine.tar.gz"), Path("/w/b/0")) == [
        "tar", "-x", "--no-same-owner", "-f", "/srv/alpine.tar.gz", "-C", "/w/b/0"]


def test_apptainer_describe() -> None:
    assert ApptainerRuntime("apptainer", is_root=False, environ={}).describe() == "apptainer, SIF, --fakeroot"
    assert ApptainerRuntime("singularity", is_root=True, sandbox=True).describe() == "singularity, sandbox"


# -- Charliecloud -------------------------------------------------------------------------------
def test_charliecloud_argv() -> None:
    runtime = CharliecloudRuntime(CH_IMAGE, "ch-run", user="alice")
    ctx = job(env={"MODE": "$HOME", "B": "x,y"})
    assert runtime.tag(ctx) == "lz-j1"
    assert runtime.build_argv(ctx) == [*CH_IMAGE, "--no-cache", "--storage", f"{W}/runtime/storage", "build", "-t", "lz-j1",
                                       "-f", f"{W}/runtime/Dockerfile", f"{W}/work"]
    assert runtime.import_argv(ctx, Path("/srv/busybox"), "busybox") == [
        *CH_IMAGE, "--no-cache", "--storage", f"{W}/runtime/storage", "import", "/srv/busybox", "busybox"]
    assert runtime.run_argv(ctx) == [
        "env", "USER=alice", "ch-run", "-b", f"{W}/work:/lz/work", "-c", "/lz/work",
        "--unset-env=*", "--env-no-expand", f"--set-env=PATH={DEFAULT_PATH}", "--set-env",
        "--set-env=B=x,y", "--set-env=MODE=$HOME", f"{W}/runtime/storage/img/lz-j1", "--", "python3", "main.py", "a b"]
    assert runtime.environment() == {"USER": "alice", "PATH": runtime.path, "LANG": "C.UTF-8"}
    assert runtime.writable_roots(ctx) == {}


def test_charliecloud_runs_the_dockerfile_cmd_when_the_job_has_no_command(tmp_path: Path) -> None:
    runtime = CharliecloudRuntime(CH_IMAGE, "ch-run", user="alice")
    ctx = job(str(tmp_path), command=None)
    with pytest.raises(ValueError, match="no CMD or ENTRYPOINT"):
        runtime.run_argv(ctx)
    ctx.paths.runtime.mkdir()
    save_default_command(ctx, ["sh", "run.sh"])
    assert runtime.run_argv(ctx)[-3:] == ["--", "sh", "run.sh"]


def test_charliecloud_tag_is_a_valid_image_name() -> None:
    runtime = CharliecloudRuntime(CH_IMAGE, user="u")
    assert runtime.tag(JobContext("Ab:C/d", JobSpec(name="j"), JobPaths(Path(W)))) == "lz-ab-c-d"


def test_ch_image_goes_through_debian_python_when_present() -> None:
    assert ch_image_argv(which("ch-image"), exists=lambda p: True) == CH_IMAGE
    assert ch_image_argv(which("ch-image"), exists=lambda p: False) == ["/usr/bin/ch-image"]


# -- none ---------------------------------------------------------------------------------------
def test_none_runtime_passes_argv_and_env_verbatim() -> None:
    assert NoneRuntime().run_argv(job()) == ["python3", "main.py", "a b"]
    assert NoneRuntime().run_argv(job(env={"K": "v w"})) == ["env", "K=v w", "python3", "main.py", "a b"]
    log = io.StringIO()
    NoneRuntime().build(job(), log)
    assert "nothing to build" in log.getvalue()


# -- catalogue ----------------------------------------------------------------------------------
def test_catalogue_resolves_bases_offline() -> None:
    catalogue = ImageCatalogue({"busybox": "/srv/busybox", "alpine": Path("/srv/alpine.tar")})
    assert catalogue.resolve("busybox") == Path("/srv/busybox")
    assert catalogue.resolve("scratch") is None
    with pytest.raises(BundleError, match=r"base image 'ubuntu:22.04' is not in this site's catalogue "
                                          r"\(known: alpine, busybox\)"):
        catalogue.check_recipe("FROM ubuntu:22.04\n", "dockerfile")
    with pytest.raises(BundleError, match=r"known: none configured"):
        ImageCatalogue().resolve("busybox")
    assert ImageCatalogue({}, allow_pull=True).resolve("ubuntu") is None


def test_base_of_dockerfiles() -> None:
    multi = "FROM busybox AS build\nRUN x\nFROM build AS test\nFROM --platform=x alpine\nCOPY --from=build /a /a\n"
    assert bases_of(multi, "dockerfile") == ["busybox", "alpine"]
    assert base_of(multi, "dockerfile") == "alpine"
    assert base_of("FROM busybox AS b\nFROM b AS c\nFROM c\n", "dockerfile") == "busybox"
    assert base_of("# comment\nARG BASE=busybox\nFROM ${BASE}\n", "dockerfile") == "busybox"
    assert base_of("from scratch\n", "dockerfile") == "scratch"
    with pytest.raises(BundleError, match="no FROM line"):
        base_of("RUN true\n", "dockerfile")


def test_base_of_definitions() -> None:
    assert base_of("Bootstrap: localimage\nFrom: python-3.11\n%post\n", "singularity") == "python-3.11"
    assert base_of("Bootstrap: localimage\nFrom: /images/busybox.sif\n", "singularity") == "busybox"
    assert base_of("bootstrap: docker\nfrom: busybox:1.36\n", "singularity") == "busybox:1.36"
    assert base_of("Bootstrap: scratch\n", "singularity") == "scratch"
    two = "Bootstrap: docker\nFrom: gcc\nStage: b\n%post\n  make\nBootstrap: localimage\nFrom: busybox\n%files from b\n"
    assert bases_of(two, "singularity") == ["gcc", "busybox"] and base_of(two, "singularity") == "busybox"
    with pytest.raises(BundleError, match="Bootstrap: yum' needs the network"):
        base_of("Bootstrap: yum\nMirrorURL: http://x\n", "singularity")
    with pytest.raises(BundleError, match="no 'Bootstrap:' header"):
        base_of("%post\n  true\n", "singularity")


# -- conversions --------------------------------------------------------------------------------
def test_dockerfile_to_definition_reports_what_it_drops() -> None:
    dockerfile = ("FROM busybox\nARG X\nENV A=1\nEXPOSE 80\nUSER nobody\nSHELL [\"/bin/bash\", \"-c\"]\n"
                  "HEALTHCHECK CMD true\nONBUILD RUN x\nCOPY --chown=1:1 in.txt /in.txt\nRUN echo hi\n"
                  'ENTRYPOINT ["python3", "-m"]\nCMD ["a b"]\n')
    definition, warnings = dockerfile_to_definition(dockerfile, Path("/srv/bb"))
    assert definition.startswith("Bootstrap: localimage\nFrom: /srv/bb\n")
    assert "export A=1\n" in definition and "echo hi" in definition
    assert definition.endswith("%runscript\nexec python3 -m 'a b' \"$@\"\n")
    assert not any(word in definition for word in ("nobody", "bash", "HEALTHCHECK", "%test", "ONBUILD", "chown"))
    assert warnings == [
        "Dockerfile: EXPOSE is not supported by Apptainer/Singularity and is ignored",
        "Dockerfile: USER is not supported by Apptainer/Singularity and is ignored (jobs run as the submitting user)",
        "Dockerfile: SHELL is not supported by Apptainer/Singularity and is ignored (%post always runs /bin/sh)",
        "Dockerfile: HEALTHCHECK is not supported by Apptainer/Singularity and is ignored "
        "(it would run as %test at the end of the build)",
        "Dockerfile: ONBUILD is not supported by Apptainer/Singularity and is ignored (there are no derived builds)",
        "Dockerfile: COPY options --chown=1:1 are ignored",
        "spython: ARG is not supported for Singularity, and must be defined with a default to be parsed. Skipping X",
    ]


def test_dockerfile_to_definition_bases_files_and_limits(tmp_path: Path) -> None:
    definition, _ = dockerfile_to_definition("FROM scratch\nCOPY data/a.txt /a.txt\n", context=tmp_path)
    assert definition.startswith("Bootstrap: scratch\n")
    assert f"%files\n{tmp_path}/data/a.txt /a.txt\n" in definition
    with pytest.raises(BuildError, match="outside the job's folder"):
        dockerfile_to_definition("FROM scratch\nCOPY ../../etc/shadow /s\n", context=tmp_path)
    with pytest.raises(BuildError, match="unknown instruction BOGUS"):
        dockerfile_to_definition("FROM scratch\nBOGUS x\nRUN true\n")


def test_multi_stage_dockerfiles_become_multi_stage_definitions() -> None:
    dockerfile = ("ARG BASE=busybox\nFROM ${BASE} AS build\nWORKDIR /src\nRUN echo hi > a\n"
                  "FROM busybox\nWORKDIR /app\nCOPY --chown=1 --from=build /src/a out/ /dest/\n"
                  "COPY --from=0 src/a rel\nCMD [\"cat\", \"/dest/a\"]\n")
    definition, warnings = dockerfile_to_definition(dockerfile, locate={"busybox": Path("/srv/bb")}.get)
    first, second = definition.split("\nBootstrap:")
    assert first.startswith("Bootstrap: localimage\nFrom: /srv/bb\nStage: build\n") and "%runscript" not in first
    assert second.startswith(" localimage\nFrom: /srv/bb\nStage: stage1\n")
    assert "%files from build\n/src/a /dest/\n/out/ /dest/\n" in second
    assert "%files from build\n/src/a /app/rel\n" in second
    assert second.endswith("%runscript\nexec cat /dest/a \"$@\"\n") and second.index("%files") < second.index("%post")
    assert warnings == ["Dockerfile: COPY options --chown=1 are ignored"]
    with pytest.raises(BuildError, match="a stage built on an earlier stage"):
        dockerfile_to_definition("FROM busybox AS b\nFROM b\n")
    with pytest.raises(BuildError, match="COPY --from=alpine: no earlier stage"):
        dockerfile_to_definition("FROM busybox\nCOPY --from=alpine /x /x\n")


def test_definition_to_dockerfile_keeps_scripts_whole() -> None:
    definition = ("Bootstrap: localimage\nFrom: /images/busybox.sif\nMirrorURL: http://x\n"
                  "%setup\n  touch $APPTAINER_ROOTFS/x\n%files\n  in.txt /in.txt\n"
                  "%environment\n  export A=1\n%post\n  if [ -d /tmp ]; then\n    echo yes > /yes\n  fi\n"
                  '%runscript\n  echo "run $A"\n%test\n  true\n%labels\n  K v\n')
    dockerfile, warnings = definition_to_dockerfile(definition)
    assert dockerfile.splitlines() == [
        "FROM busybox",
        "COPY in.txt /in.txt",
        "RUN " + json.dumps(["/bin/sh", "-e", "-c", "if [ -d /tmp ]; then\n  echo yes > /yes\nfi\n"]),
        "ENV A=1",
        "CMD " + json.dumps(["/bin/sh", "-c", 'echo "run $A"\n']),
    ]
    assert warnings == [
        "definition: header 'MirrorURL: http://x' is ignored",
        "definition: %setup runs on the build host; lz never runs it",
        "definition: %test has no Dockerfile equivalent and is ignored",
        "definition: %labels has no Dockerfile equivalent and is ignored",
    ]
    with pytest.raises(BuildError, match="multi-stage"):
        definition_to_dockerfile("Bootstrap: docker\nFrom: a\n%post\nBootstrap: docker\nFrom: b\n")


# -- choice -------------------------------------------------------------------------------------
def test_pick_runtime_prefers_apptainer_then_singularity_then_charliecloud() -> None:
    assert pick_runtime(None, which=which("apptainer", "singularity", "ch-image", "ch-run")).name == "apptainer"
    assert pick_runtime("auto", which=which("singularity", "ch-image", "ch-run")).name == "singularity"
    assert pick_runtime(None, which=which("ch-image", "ch-run")).name == "charliecloud"
    assert pick_runtime(None, which=which("ch-image")).name == "none"
    assert pick_runtime(None, which=which()).name == "none"
    assert pick_runtime("singularity", which=which("apptainer", "singularity")).name == "singularity"
    assert pick_runtime("none", which=which()).name == "none"


def test_pick_runtime_wires_what_it_found() -> None:
    catalogue = ImageCatalogue({"busybox": "/srv/bb"})
    runtime = pick_runtime("charliecloud", catalogue=catalogue, which=which("ch-image", "ch-run"),
                           exists=lambda p: False)
    assert isinstance(runtime, CharliecloudRuntime)
    assert runtime.ch_image == ["/usr/bin/ch-image"] and runtime.ch_run == "/usr/bin/ch-run"
    assert runtime.catalogue is catalogue


def test_pick_runtime_refuses_what_is_missing_or_unknown() -> None:
    with pytest.raises(ConfigError, match="runtime apptainer is not available here: apptainer not found on PATH"):
        pick_runtime("apptainer", which=which())
    with pytest.raises(ConfigError, match="runtime charliecloud is not available here: ch-run not found"):
        pick_runtime("charliecloud", which=which("ch-image"))
    with pytest.raises(ConfigError, match="unknown runtime 'docker'"):
        pick_runtime("docker", which=which("apptainer"))


def test_default_command_follows_docker_rules() -> None:
    assert default_command('FROM x\nCMD ["a", "b"]\n') == ["a", "b"]
    assert default_command('FROM x\nENTRYPOINT ["run"]\nCMD ["--fast"]\n') == ["run", "--fast"]
    assert default_command("FROM x\nCMD echo $HOME\n") == ["/bin/sh", "-c", "echo $HOME"]
    assert default_command("FROM x\nCMD a\nFROM y\n") is None


def test_the_sandbox_setting_reaches_the_runtime(tmp_path: Path) -> None:
    from lz.config import load_settings

    config = tmp_path / "config.toml"
    config.write_text("container = \"apptainer\"\n[apptainer]\nsandbox = true\n")
    settings = load_settings(config, environ={})
    assert settings.apptainer_sandbox is True
    assert load_settings(config, environ={}, flags={"apptainer_sandbox": False}).apptainer_sandbox is False
    assert load_settings(None, environ={"LZ_APPTAINER_SANDBOX": "1", "HOME": str(tmp_path)}).apptainer_sandbox
    config.write_text("[apptainer]\nsandbox = true\nbind = 1\n")
    with pytest.raises(ConfigError, match=r"unknown \[apptainer\] setting 'bind'"):
        load_settings(config, environ={})
    runtime = pick_runtime("apptainer", which=which("apptainer"), sandbox=True)
    assert isinstance(runtime, ApptainerRuntime) and runtime.sandbox
    from lz.cli import main

    options = {opt for param in main.commands["run"].params for opt in param.opts}
    assert "--sandbox" in options
