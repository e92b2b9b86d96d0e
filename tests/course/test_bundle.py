"""Offline checks of the bundle: databricks.yml and the resources/*.yml it includes.

No workspace and no Spark are needed. `databricks bundle validate` against a workspace
stays the final word (it merges targets and resolves every variable); these tests catch
what can be caught without one, and run in CI and in the `solution_tests` job.

Every bundle file is validated against the bundle JSON schema committed in
tests/bundle_schema/ (what `databricks bundle schema` prints; see the README there).
"""
import fnmatch
import functools
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import regex
import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_HEADER = "# Databricks notebook source"
SOLUTION_NOTEBOOKS = ROOT / "solutions" / "notebooks"
RUNNER = ROOT / "tests" / "run_on_cluster.py"
SCHEMA_DIR = ROOT / "tests" / "course" / "bundle_schema"
WHEEL_GLOB = "../dist/*.whl"
# The labs that exist, as the lab builder lists them (workshop.labs.lab_sources), read from
# this checkout: the installed wheel the solution_tests job imports has no lab sources.
COURSE_NOTEBOOKS = sorted(p.stem for p in (ROOT / "workshop" / "lab_sources").glob("[0-9][0-9]_*.py"))
MIN_DBR = (17, 3)  # DBR 17.3 LTS is Spark 4.0, the first with the full Python DataSource API
DEDICATED = "DATA_SECURITY_MODE_DEDICATED"  # the current name; SINGLE_USER is its legacy alias
COMPUTE = "single_node_cluster"  # the variable that holds the course's one cluster definition
VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)")
WHOLE_VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_-]+)*)\}")
RESOURCE_REF = re.compile(r"\$\{resources\.([a-z_]+)\.([A-Za-z0-9_-]+)\.")
DEFS = "#/$defs/github.com/databricks"


# --------------------------------------------------------------------------- loading


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


def bundle_main():
    return ROOT / "databricks.yml"


def included_files():
    config = load_yaml(bundle_main())
    files = []
    for pattern in config.get("include") or []:
        files += sorted(Path(p) for p in glob.glob(str(ROOT / pattern), recursive=True))
    return files


def bundle_files():
    return [bundle_main()] + included_files()


def walk(node, path=()):
    """(path, scalar) for every leaf of a parsed YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, path + (i,))
    else:
        yield path, node


def resources_of(kind):
    """{key: (definition, file it is defined in)} for one resource kind across all files."""
    found = {}
    for path in bundle_files():
        for key, value in ((load_yaml(path).get("resources") or {}).get(kind) or {}).items():
            assert key not in found, f"{kind}.{key} is defined twice ({found[key][1]} and {path})"
            found[key] = (value, path)
    return found


def all_tasks():
    """(job key, task, file of the job) for every task of every job."""
    for job_key, (job, path) in sorted(resources_of("jobs").items()):
        for task in job.get("tasks") or []:
            yield job_key, task, path


def variables():
    return load_yaml(bundle_main()).get("variables") or {}


def targets():
    return load_yaml(bundle_main()).get("targets") or {}


def resolve(node):
    """`node` with every value that is a whole `${var.X}` or `${var.X.field}` replaced by that
    part of X's default, recursively, as the CLI resolves them; other references stay."""
    if isinstance(node, dict):
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value) for value in node]
    match = WHOLE_VAR_REF.fullmatch(node) if isinstance(node, str) else None
    if not match:
        return node
    value = variables()[match.group(1)].get("default")
    for field in match.group(2).split(".")[1:]:
        value = value[field]
    return resolve(value)


def lab_cluster(target=None):
    """The lab cluster as `target` deploys it: the resource with the target's override merged."""
    cluster = resources_of("clusters")["lab_cluster"][0]
    override = ((targets().get(target, {}).get("resources") or {}).get("clusters") or {}).get("lab_cluster")
    return {**cluster, **(override or {})}


def job_clusters():
    """(job key, job cluster) for every job cluster of every job."""
    for job_key, (job, _) in sorted(resources_of("jobs").items()):
        for cluster in job.get("job_clusters") or []:
            yield job_key, cluster


def dbr_version(spark_version):
    """(major, minor) of a spark_version key such as '17.3.x-scala2.13'."""
    match = re.match(r"(\d+)\.(\d+)\.x-", str(spark_version))
    assert match, f"{spark_version!r} is not a Databricks Runtime version key like 17.3.x-scala2.13"
    return int(match.group(1)), int(match.group(2))


# --------------------------------------------------------------------------- top level


def test_bundle_identity_and_includes():
    config = load_yaml(bundle_main())
    assert config["bundle"]["name"] == "spark-python-datasource-course"
    given = str(config["bundle"].get("uuid"))
    assert str(uuid.UUID(given)) == given, f"bundle.uuid must be a UUID in its canonical form, not {given!r}"
    version = config["bundle"].get("databricks_cli_version", "")
    assert re.fullmatch(r">=\s*\d+\.\d+\.\d+(,\s*<\s*\d+\.\d+\.\d+)?", version), (
        f"databricks_cli_version should pin a range like '>= 0.250.0', not {version!r}"
    )
    assert "resources/*.yml" in config.get("include", [])
    names = sorted(p.name for p in included_files())
    assert names == sorted(p.name for p in (ROOT / "resources").glob("*.yml")), "every resources/*.yml is included"
    assert names, "resources/ holds the bundle's resources"


def test_artifact_builds_the_project_wheel():
    artifacts = load_yaml(bundle_main()).get("artifacts") or {}
    wheels = {key: a for key, a in artifacts.items() if a.get("type") == "whl"}
    assert len(wheels) == 1, f"one wheel artifact expected, found {sorted(artifacts)}"
    (artifact,) = wheels.values()
    assert (ROOT / artifact.get("path", ".") / "pyproject.toml").exists()
    assert "--wheel" in artifact["build"] and ("uv build" in artifact["build"] or "-m build" in artifact["build"])
    with open(ROOT / "pyproject.toml", "rb") as f:
        text = f.read().decode()
    assert "setuptools" in text, "the wheel is built by setuptools from pyproject.toml"


def test_every_deploy_of_every_target_builds_a_new_wheel_version():
    # Without it a redeployed wheel keeps pyproject's version, and %pip on a running
    # cluster says "already satisfied" and keeps the old code.
    artifacts = load_yaml(bundle_main())["artifacts"]
    (name,) = [key for key, artifact in artifacts.items() if artifact.get("type") == "whl"]
    assert artifacts[name].get("dynamic_version") is True, f"artifacts.{name}.dynamic_version: true"
    for target_name, target in targets().items():
        override = ((target.get("artifacts") or {}).get(name) or {}).get("dynamic_version")
        assert override is not False, f"target {target_name} turns artifacts.{name}.dynamic_version off"


def test_variables_are_declared_with_sensible_defaults():
    declared = variables()
    for name in ("spark_version", "node_type_id", "learners_group", COMPUTE):
        assert name in declared, f"variable {name} is missing"
        assert declared[name].get("description"), f"variable {name} needs a description"
        assert declared[name].get("default") not in (None, ""), f"variable {name} needs a default"
    assert declared[COMPUTE].get("type") == "complex", f"{COMPUTE} holds a whole cluster definition"
    assert dbr_version(declared["spark_version"]["default"]) >= MIN_DBR
    assert "scala2.13" in declared["spark_version"]["default"], "DBR 17.x images are Scala 2.13"


def test_every_variable_used_is_declared_and_every_declared_one_is_used():
    declared = set(variables())
    used = {}
    for path in bundle_files():
        for where, value in walk(load_yaml(path)):
            for name in VAR_REF.findall(str(value)):
                used.setdefault(name, f"{path.name}: {'.'.join(map(str, where))}")
    undeclared = {name: where for name, where in used.items() if name not in declared}
    assert not undeclared, f"variables used but not declared under `variables`: {undeclared}"
    assert not declared - set(used), f"variables declared but never used: {sorted(declared - set(used))}"


def course_code():
    """{path: text} of the Python the course runs on a cluster: the kit (labs included) and the connector."""
    files = [*(ROOT / "workshop").rglob("*.py"), *(ROOT / "solutions").rglob("*.py")]
    return {path: path.read_text(encoding="utf-8") for path in files if SOLUTION_NOTEBOOKS not in path.parents}


def test_every_environment_variable_set_on_a_cluster_is_read_by_the_course():
    specs = [("lab_cluster", resolve(lab_cluster()))]
    specs += [(f"{job_key}.{c['job_cluster_key']}", resolve(c["new_cluster"])) for job_key, c in job_clusters()]
    code = course_code()
    for what, spec in specs:
        for name in spec.get("spark_env_vars") or {}:
            read = re.compile(r"""(environ(\.get\(|\[)|getenv\()\s*["']""" + re.escape(name) + "[\"']")
            readers = [path.name for path, text in code.items() if read.search(text)]
            assert readers, f"{what} sets {name}, which nothing in workshop/ or solutions/ reads"


def test_every_job_parameter_is_read_by_the_job():
    for job_key, (job, config_file) in resources_of("jobs").items():
        tasks_text = json.dumps(job.get("tasks") or [])
        notebooks = [
            config_file.parent / task["notebook_task"]["notebook_path"]
            for task in job.get("tasks") or [] if "notebook_task" in task
        ]
        notebooks_text = "".join(path.read_text() for path in notebooks if path.exists())
        for parameter in job.get("parameters") or []:
            name = parameter["name"]
            passed = "{{job.parameters." + name + "}}" in tasks_text
            read = re.search(r"""widgets\.get\(\\?["']""" + re.escape(name), notebooks_text)
            assert passed or read, f"{job_key}: parameter {name} is passed to no task and read by no notebook"


def test_resource_references_point_at_defined_resources():
    for path in bundle_files():
        for where, value in walk(load_yaml(path)):
            for kind, key in RESOURCE_REF.findall(str(value)):
                assert key in resources_of(kind), f"{path.name}: {'.'.join(map(str, where))} names unknown {kind}.{key}"


def test_nothing_hard_codes_a_user_or_a_workspace_host():
    email = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")
    host = re.compile(r"cloud\.databricks\.com|azuredatabricks\.net|gcp\.databricks\.com|databricks\.azure\.cn", re.I)
    literal_home = re.compile(r"/Users/(?!\$\{workspace\.current_user\.)")
    for path in bundle_files():
        text = path.read_text()
        assert not email.search(text), f"{path.name} names a user: {email.search(text).group(0)}"
        assert not host.search(text), f"{path.name} names a workspace host: {host.search(text).group(0)}"
        assert not literal_home.search(text), f"{path.name} has a home folder path not built from current_user"
        for where, _ in walk(load_yaml(path)):
            assert "host" not in where, f"{path.name}: {'.'.join(map(str, where))}: take the host from the CLI profile"


def test_sync_leaves_out_what_no_cluster_uses():
    excluded = (load_yaml(bundle_main()).get("sync") or {}).get("exclude") or []
    for folder in (".ci", "benchmarks", "build", ".venv*"):
        assert folder in excluded, f"sync.exclude should leave out {folder}"
    # What the jobs run must still be deployed.
    for job_key, task, config_file in all_tasks():
        for key in ("notebook_task", "spark_python_task"):
            value = (task.get(key) or {}).get("notebook_path") or (task.get(key) or {}).get("python_file")
            if value:
                top = (config_file.parent / value).resolve().relative_to(ROOT).parts[0]
                assert not [p for p in excluded if fnmatch.fnmatch(top, p)], f"{job_key}: {value} is not deployed"


# --------------------------------------------------------------------------- targets


def test_dev_target_is_the_default_and_in_development_mode():
    all_targets = targets()
    assert set(all_targets) >= {"dev", "class"}
    defaults = [name for name, target in all_targets.items() if target.get("default")]
    assert defaults == ["dev"], f"exactly dev is the default target, found {defaults}"
    assert all_targets["dev"]["mode"] == "development"
    assert "root_path" not in (all_targets["dev"].get("workspace") or {}), "dev keeps the per-user default root"


def test_class_target_is_production_with_permissions_for_learners():
    target = targets()["class"]
    assert target["mode"] == "production"
    root_path = (target.get("workspace") or {}).get("root_path", "")
    assert root_path.startswith("/Workspace/"), "production mode needs an explicit root_path"
    assert "${bundle.name}" in root_path and "${bundle.target}" in root_path
    permissions = target.get("permissions") or []
    learners = [p for p in permissions if p.get("group_name") == "${var.learners_group}"]
    assert learners and {p["level"] for p in learners} <= {"CAN_VIEW", "CAN_RUN"}, (
        "the learners group may view and run the class deployment, not manage it"
    )
    assert {"level": "CAN_MANAGE", "user_name": "${workspace.current_user.userName}"} in permissions
    # The shared lab cluster must be usable by the learners, not only by the instructor.
    cluster = ((target.get("resources") or {}).get("clusters") or {}).get("lab_cluster") or {}
    assert cluster.get("single_user_name") == "${var.learners_group}"


# --------------------------------------------------------------------------- resources


def test_every_job_loads_with_databricks_bundles():
    jobs_module = pytest.importorskip("databricks.bundles.jobs")
    jobs = resources_of("jobs")
    assert {"solution_tests", "course_smoke"} <= set(jobs)
    for key, (job, path) in jobs.items():
        try:
            jobs_module.Job.from_dict(resolve(job))
        except Exception as error:  # noqa: BLE001 - report which job and why
            pytest.fail(f"{path.name}: job {key} does not load: {error}")


def test_every_cluster_loads_with_databricks_bundles():
    clusters_module = pytest.importorskip("databricks.bundles.clusters")
    assert set(resources_of("clusters")) == {"lab_cluster"}
    for target in targets():
        clusters_module.Cluster.from_dict(resolve(lab_cluster(target)))


def test_the_course_defines_its_compute_once():
    compute = variables()[COMPUTE]["default"]
    for job_key, cluster in job_clusters():
        assert cluster["new_cluster"] == f"${{var.{COMPUTE}}}", f"{job_key}: new_cluster: ${{var.{COMPUTE}}}"
    lab = resources_of("clusters")["lab_cluster"][0]
    for key in compute:
        assert lab.get(key) == f"${{var.{COMPUTE}.{key}}}", f"lab_cluster.{key}: take it from ${{var.{COMPUTE}.{key}}}"
    own = {"cluster_name", "single_user_name", "autotermination_minutes"}  # what only an all-purpose cluster has
    outside = set(lab) - set(compute) - own
    assert not outside, f"lab_cluster sets compute outside {COMPUTE}: {sorted(outside)}"
    # --var spark_version=... and --var node_type_id=... reach every cluster.
    assert compute["spark_version"] == "${var.spark_version}" and compute["node_type_id"] == "${var.node_type_id}"


def access_modes():
    """{mode: its description} from the committed schema's enum of data_security_mode."""
    (modes,) = [choice for choice in schema_definition("databricks-sdk-go/service/compute.DataSecurityMode")["oneOf"]
                if "enum" in choice]
    return dict(zip(modes["enum"], modes["enumDescriptions"]))


def assert_single_node_spark4(spec, what):
    assert spec.get("num_workers") == 0, f"{what}: a single-node cluster has num_workers: 0"
    assert "autoscale" not in spec, f"{what}: a single-node cluster does not autoscale"
    conf = spec.get("spark_conf") or {}
    assert conf.get("spark.databricks.cluster.profile") == "singleNode", what
    assert re.fullmatch(r"local\[\*(,\s*\d+)?\]", conf.get("spark.master", "")), f"{what}: spark.master local[*, N]"
    assert (spec.get("custom_tags") or {}).get("ResourceClass") == "SingleNode", what
    mode = spec.get("data_security_mode")
    assert mode == DEDICATED, f"{what}: dedicated access mode is {DEDICATED}, not {mode}"
    assert not access_modes()[mode].startswith("Legacy"), f"{what}: {mode} is a legacy name in the bundle schema"
    assert dbr_version(spec["spark_version"]) >= MIN_DBR, f"{what}: DBR 17.3+ (Spark 4.0+)"
    assert spec.get("node_type_id"), f"{what}: needs a node type"


@pytest.mark.parametrize("target", ["dev", "class"])
def test_lab_cluster_is_a_single_node_spark4_cluster(target):
    lab = resolve(lab_cluster(target))
    assert_single_node_spark4(lab, f"lab_cluster ({target})")
    assert 10 <= lab.get("autotermination_minutes", 0) <= 240, "the lab cluster terminates itself when idle"
    expected_user = {"dev": "${workspace.current_user.userName}", "class": "${var.learners_group}"}[target]
    given = lab_cluster(target).get("single_user_name")
    assert given == expected_user, f"{target}: the lab cluster is dedicated to {expected_user}, not {given}"
    env = lab.get("spark_env_vars") or {}
    assert env.get("WORKSHOP_ARTIFACT_PATH") == "${workspace.artifact_path}", "the labs install the wheel from there"


def test_job_clusters_are_single_node_spark4_clusters():
    assert list(job_clusters()), "the jobs run on job clusters"
    for job_key, cluster in job_clusters():
        spec = resolve(cluster["new_cluster"])
        assert_single_node_spark4(spec, f"{job_key}.{cluster['job_cluster_key']}")
        assert "single_user_name" not in spec, f"{job_key}: a job cluster is dedicated to the job's run-as identity"


def test_every_task_runs_on_a_defined_classic_cluster_with_the_wheel():
    for job_key, task, _ in all_tasks():
        what = f"{job_key}.{task['task_key']}"
        cluster_keys = {c["job_cluster_key"] for c in resources_of("jobs")[job_key][0].get("job_clusters") or []}
        assert task.get("job_cluster_key") in cluster_keys or task.get("existing_cluster_id"), what
        wheels = [lib["whl"] for lib in task.get("libraries") or [] if "whl" in lib]
        assert wheels == [WHEEL_GLOB], f"{what}: installs the course wheel ({WHEEL_GLOB}) as a task library"


def test_task_dependencies_are_defined_and_acyclic():
    for job_key, (job, _) in resources_of("jobs").items():
        tasks = {task["task_key"]: task for task in job.get("tasks") or []}
        assert len(tasks) == len(job.get("tasks") or []), f"{job_key}: duplicate task keys"
        done = set()
        pending = dict(tasks)
        while pending:
            ready = [k for k, t in pending.items() if {d["task_key"] for d in t.get("depends_on") or []} <= done]
            assert ready, f"{job_key}: tasks {sorted(pending)} depend on unknown tasks or on each other"
            for key in ready:
                done.add(key)
                del pending[key]


# --------------------------------------------------------------------------- paths


def notebook_tasks():
    return [
        pytest.param(job_key, task, path, id=f"{job_key}.{task['task_key']}")
        for job_key, task, path in all_tasks()
        if "notebook_task" in task
    ]


@pytest.mark.parametrize("job_key, task, config_file", notebook_tasks())
def test_notebook_path_points_at_a_notebook(job_key, task, config_file):
    value = task["notebook_task"]["notebook_path"]
    assert not value.startswith("/") and "${" not in value, f"{value}: notebook paths are relative to the bundle"
    target = (config_file.parent / value).resolve()
    assert ROOT in target.parents, f"{value} leaves the bundle"
    if SOLUTION_NOTEBOOKS in target.parents and not SOLUTION_NOTEBOOKS.is_dir():
        pytest.skip("solutions/notebooks/ is not generated yet; this check turns on when it exists")
    candidates = [target] if target.suffix else [target.with_suffix(".ipynb"), target.with_suffix(".py")]
    found = [c for c in candidates if c.exists()]
    assert found, f"{config_file.name}: no notebook at {value}"
    if found[0].suffix == ".py":
        assert found[0].read_text().splitlines()[:1] == [NOTEBOOK_HEADER], f"{value} is a plain .py file"
    else:
        assert found[0].suffix == ".ipynb", f"{value} is not a notebook"
        notebook = json.loads(found[0].read_text())
        assert isinstance(notebook.get("cells"), list), f"{value} is not a valid .ipynb notebook"


def test_every_python_file_is_a_plain_file():
    python_tasks = [(j, t, p) for j, t, p in all_tasks() if "spark_python_task" in t]
    assert python_tasks, "the solution tests run as a Python script task"
    for _job_key, task, config_file in python_tasks:
        value = task["spark_python_task"]["python_file"]
        assert not value.startswith("/") and "${" not in value, value
        target = (config_file.parent / value).resolve()
        assert target.is_file(), f"{config_file.name}: no file at {value}"
        assert target.read_text().splitlines()[:1] != [NOTEBOOK_HEADER], f"{value} is a notebook"


def test_no_importable_python_file_carries_the_notebook_header():
    # A .py file starting with the header is uploaded as a notebook, and imports of it break.
    offenders = []
    candidates = list(ROOT.glob("*.py"))
    for folder in ("workshop", "solutions", "tests", "benchmarks"):
        candidates += (ROOT / folder).rglob("*.py")
    for path in candidates:
        if SOLUTION_NOTEBOOKS in path.parents:
            continue  # notebook sources, never imported
        with open(path, encoding="utf-8", errors="replace") as f:
            if f.readline().strip() == NOTEBOOK_HEADER:
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"importable files with the notebook header: {offenders}"


# --------------------------------------------------------------------------- the jobs


def test_course_smoke_runs_every_lab_in_order():
    job = resources_of("jobs")["course_smoke"][0]
    tasks = job["tasks"]
    paths = [task["notebook_task"]["notebook_path"] for task in tasks]
    expected = [f"../solutions/notebooks/{name}.ipynb" for name in COURSE_NOTEBOOKS]
    missing, extra = sorted(set(expected) - set(paths)), sorted(set(paths) - set(expected))
    assert not missing and not extra, (
        f"resources/course_smoke.job.yml does not match the lab sources: add {missing}, remove {extra}"
    )
    assert paths == expected, "the smoke tasks run the labs in their order"
    assert [task["task_key"] for task in tasks] == [f"lab_{name}" for name in COURSE_NOTEBOOKS]
    for before, task in zip(tasks, tasks[1:]):
        assert task.get("depends_on") == [{"task_key": before["task_key"]}], f"{task['task_key']} runs after {before['task_key']}"
    assert not tasks[0].get("depends_on")
    if SOLUTION_NOTEBOOKS.is_dir():
        generated = sorted(p.stem for p in SOLUTION_NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        assert generated == COURSE_NOTEBOOKS, "the smoke job runs exactly the generated solution notebooks"


def test_solution_tests_job_runs_pytest_from_the_deployed_files():
    job = resources_of("jobs")["solution_tests"][0]
    (task,) = job["tasks"]
    script = task["spark_python_task"]
    assert script["python_file"] == "../tests/run_on_cluster.py"
    assert script["parameters"][:2] == ["--root", "${workspace.file_path}"]
    pypi = [lib["pypi"]["package"] for lib in task.get("libraries") or [] if "pypi" in lib]
    # pytest, and what this file reads the bundle with, so that it runs there too.
    for needed in ("pytest", "pyyaml", "jsonschema", "regex"):
        assert any(re.match(needed + r"\b", package) for package in pypi), f"{needed} is installed on the cluster"


def test_instructor_guide_names_every_job_and_target():
    guide = (ROOT / "docs" / "instructor_guide.md").read_text()
    for job_key in resources_of("jobs"):
        assert f"databricks bundle run {job_key}" in guide or f"bundle run -t class {job_key}" in guide, job_key
    for name in targets():
        assert f"-t {name}" in guide, f"the guide shows deploying the {name} target"
    assert "databricks bundle destroy" in guide


# --------------------------------------------------------------------------- the runner


def run_runner(tests_dir, *extra, timeout=120):
    command = [sys.executable, str(RUNNER), "--root", str(ROOT), "--tests", str(tests_dir), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def test_runner_is_a_plain_python_file():
    assert RUNNER.read_text().splitlines()[0] != NOTEBOOK_HEADER


def test_runner_fails_when_a_test_fails(tmp_path):
    (tmp_path / "test_sample.py").write_text("def test_broken():\n    assert 1 + 1 == 3\n\n\ndef test_fine():\n    pass\n")
    result = run_runner(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout and "FAILED: pytest exited with code 1" in result.stdout


def test_runner_passes_when_every_test_passes(tmp_path):
    (tmp_path / "test_sample.py").write_text("def test_fine():\n    pass\n")
    result = run_runner(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_runner_fails_when_no_test_is_collected(tmp_path):
    result = run_runner(tmp_path)
    assert result.returncode == 5, result.stdout + result.stderr


def test_runner_passes_extra_pytest_arguments(tmp_path):
    (tmp_path / "test_sample.py").write_text("def test_broken():\n    assert False\n\n\ndef test_fine():\n    pass\n")
    result = run_runner(tmp_path, "--pytest-args", "-k fine")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 deselected" in result.stdout


# --------------------------------------------------------------------------- the schema


def _unicode_pattern(validator, pattern, instance, schema):
    # The schema's patterns use \p{L} (RE2 syntax), which `re` cannot compile.
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


SchemaValidator = validators.extend(Draft202012Validator, {"pattern": _unicode_pattern})


@functools.lru_cache(maxsize=None)
def bundle_schema():
    with open(SCHEMA_DIR / "jsonschema.json") as f:
        return json.load(f)


def schema_definition(name):
    """The schema's definition `name`, e.g. "cli/bundle/config/resources.Cluster"."""
    node = bundle_schema()["$defs"]["github.com"]["databricks"]
    for part in name.split("/"):
        node = node[part]
    return node


def schema_problems(instance, definition=None):
    """One line per place where `instance` breaks the schema (or one of its definitions)."""
    schema = bundle_schema()
    if definition:
        schema = {"$defs": schema["$defs"], "$ref": f"{DEFS}/{definition}"}
    problems = []
    for error in SchemaValidator(schema).iter_errors(instance):
        while error.context:  # the most specific cause under oneOf/anyOf
            error = max(error.context, key=lambda e: len(e.absolute_path))
        problems.append(f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message[:200]}")
    return problems


def test_bundle_files_match_the_bundle_json_schema():
    problems = [f"{path.name}: {line}" for path in bundle_files() for line in schema_problems(load_yaml(path))]
    assert not problems, "\n".join(problems)


def test_the_compute_behind_the_variable_matches_the_bundle_json_schema():
    # In the files the clusters are ${var...} references, which the schema accepts as they
    # are; resolved, the definition itself is checked.
    problems = []
    for target in targets():
        problems += [f"lab_cluster ({target}): {p}" for p in schema_problems(resolve(lab_cluster(target)),
                                                                             "cli/bundle/config/resources.Cluster")]
    for job_key, cluster in job_clusters():
        problems += [f"{job_key}: {p}" for p in schema_problems(resolve(cluster["new_cluster"]),
                                                                "databricks-sdk-go/service/compute.ClusterSpec")]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("wrong, where", [
    ({"bundle": {"name": "x", "databricks_cli_versoin": ">= 0.250.0"}}, "bundle"),
    ({"resources": {"clusters": {"c": {"num_workers": "two"}}}}, "resources.clusters.c.num_workers"),
    ({"resources": {"clusters": {"c": {"data_security_mode": "DEDICATED"}}}}, "resources.clusters.c.data_security_mode"),
    ({"resources": {"jobs": {"j": {"tasks": [{"task_key": "t", "notebook_tsk": {}}]}}}}, "resources.jobs.j.tasks.0"),
])
def test_the_schema_check_rejects_what_the_cli_rejects(wrong, where):
    problems = schema_problems({"bundle": {"name": "x"}, **wrong})
    assert [p for p in problems if p.startswith(where + ":")], problems


def test_the_schema_check_accepts_variable_references_anywhere():
    fine = {"bundle": {"name": "x"}, "resources": {"clusters": {"c": {"num_workers": "${var.n}", "spark_conf": "${var.c.conf}"}}}}
    assert not schema_problems(fine)


def test_the_schema_note_describes_the_committed_schema():
    note = (SCHEMA_DIR / "README.md").read_text()
    digest = hashlib.sha256((SCHEMA_DIR / "jsonschema.json").read_bytes()).hexdigest()
    assert digest in note, "tests/course/bundle_schema/README.md names the sha256 of the schema it describes"
