"""Offline checks of the bundle: databricks.yml and the resources/*.yml it includes.

No workspace and no Spark are needed. `databricks bundle validate` against a workspace
stays the final word (it merges targets and resolves every variable); these tests catch
what can be caught without one, and run in CI.

Set BUNDLE_SCHEMA to the JSON schema that `databricks bundle schema` prints to also
validate every bundle file against it.
"""
import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_HEADER = "# Databricks notebook source"
SOLUTION_NOTEBOOKS = ROOT / "solutions" / "notebooks"
RUNNER = ROOT / "tests" / "run_on_cluster.py"
WHEEL_GLOB = "../dist/*.whl"
# The labs that exist: one solution notebook per lab source (workshop/lab_sources/NN_*.py).
COURSE_NOTEBOOKS = sorted(p.stem for p in (ROOT / "workshop" / "lab_sources").glob("[0-9][0-9]_*.py"))
MIN_DBR = (17, 3)  # DBR 17.3 LTS is Spark 4.0, the first with the full Python DataSource API
SINGLE_USER_MODES = {"SINGLE_USER", "DATA_SECURITY_MODE_DEDICATED"}
VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)")
RESOURCE_REF = re.compile(r"\$\{resources\.([a-z_]+)\.([A-Za-z0-9_-]+)\.")


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


def resolve(value):
    """A `${var.X}` value replaced by X's default (one level, as the tests need)."""
    match = re.fullmatch(r"\$\{var\.([A-Za-z0-9_-]+)\}", str(value))
    if match:
        return variables()[match.group(1)].get("default")
    return value


def dbr_version(spark_version):
    """(major, minor) of a spark_version key such as '17.3.x-scala2.13'."""
    match = re.match(r"(\d+)\.(\d+)\.x-", str(spark_version))
    assert match, f"{spark_version!r} is not a Databricks Runtime version key like 17.3.x-scala2.13"
    return int(match.group(1)), int(match.group(2))


# --------------------------------------------------------------------------- top level


def test_bundle_identity_and_includes():
    config = load_yaml(bundle_main())
    assert config["bundle"]["name"] == "spark-python-datasource-course"
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


def test_variables_are_declared_with_sensible_defaults():
    declared = variables()
    for name in ("catalog", "schema", "spark_version", "node_type_id", "learners_group"):
        assert name in declared, f"variable {name} is missing"
        assert declared[name].get("description"), f"variable {name} needs a description"
        assert declared[name].get("default") not in (None, ""), f"variable {name} needs a default"
    assert declared["catalog"]["default"] == "main"
    assert declared["schema"]["default"] == "${workspace.current_user.short_name}"
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
            jobs_module.Job.from_dict(job)
        except Exception as error:  # noqa: BLE001 - report which job and why
            pytest.fail(f"{path.name}: job {key} does not load: {error}")


def test_every_cluster_loads_with_databricks_bundles():
    clusters_module = pytest.importorskip("databricks.bundles.clusters")
    clusters = resources_of("clusters")
    assert "lab_cluster" in clusters
    for key, (cluster, path) in clusters.items():
        clusters_module.Cluster.from_dict(cluster)
        for name, target in targets().items():
            override = ((target.get("resources") or {}).get("clusters") or {}).get(key)
            if override:
                clusters_module.Cluster.from_dict({**cluster, **override})


def assert_single_node_spark4(spec, what):
    assert spec.get("num_workers") == 0, f"{what}: a single-node cluster has num_workers: 0"
    assert "autoscale" not in spec, f"{what}: a single-node cluster does not autoscale"
    conf = spec.get("spark_conf") or {}
    assert conf.get("spark.databricks.cluster.profile") == "singleNode", what
    assert re.fullmatch(r"local\[\*(,\s*\d+)?\]", conf.get("spark.master", "")), f"{what}: spark.master local[*, N]"
    assert (spec.get("custom_tags") or {}).get("ResourceClass") == "SingleNode", what
    assert spec.get("data_security_mode") in SINGLE_USER_MODES, f"{what}: dedicated (single user) access mode"
    assert spec.get("spark_version") == "${var.spark_version}", f"{what}: use ${{var.spark_version}}"
    assert dbr_version(resolve(spec["spark_version"])) >= MIN_DBR, f"{what}: DBR 17.3+ (Spark 4.0+)"
    assert resolve(spec.get("node_type_id")), f"{what}: needs a node type"


def test_lab_cluster_is_a_single_node_spark4_cluster():
    clusters = resources_of("clusters")
    lab = clusters["lab_cluster"][0]
    assert_single_node_spark4(lab, "lab_cluster")
    assert 10 <= lab.get("autotermination_minutes", 0) <= 240, "the lab cluster terminates itself when idle"
    assert lab.get("single_user_name") == "${workspace.current_user.userName}"
    env = lab.get("spark_env_vars") or {}
    assert env.get("WORKSHOP_BUNDLE_ROOT") == "${workspace.file_path}", "labs find the deployed course through it"


def test_job_clusters_match_the_lab_cluster():
    lab = resources_of("clusters")["lab_cluster"][0]
    same = ("spark_version", "node_type_id", "num_workers", "spark_conf", "custom_tags", "data_security_mode")
    for job_key, (job, _) in resources_of("jobs").items():
        for cluster in job.get("job_clusters") or []:
            spec = cluster["new_cluster"]
            what = f"{job_key}.{cluster['job_cluster_key']}"
            assert_single_node_spark4(spec, what)
            for key in same:
                assert spec.get(key) == lab.get(key), f"{what}: {key} differs from the lab cluster"


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
    for job_key, task, config_file in python_tasks:
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


def test_course_smoke_runs_every_solution_notebook_in_order():
    job = resources_of("jobs")["course_smoke"][0]
    tasks = job["tasks"]
    paths = [task["notebook_task"]["notebook_path"] for task in tasks]
    assert paths == [f"../solutions/notebooks/{name}.ipynb" for name in COURSE_NOTEBOOKS]
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
    assert any(re.match(r"pytest\b", package) for package in pypi), "pytest is installed on the cluster"


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


# --------------------------------------------------------------------------- optional schema


def test_bundle_files_match_the_bundle_json_schema():
    schema_path = os.environ.get("BUNDLE_SCHEMA")
    if not schema_path:
        pytest.skip("set BUNDLE_SCHEMA to the output of `databricks bundle schema` to validate against it")
    jsonschema = pytest.importorskip("jsonschema")
    regex = pytest.importorskip("regex")  # the schema's patterns use \p{L}, which `re` cannot compile

    def unicode_pattern(validator, pattern, instance, schema):
        if validator.is_type(instance, "string") and not regex.search(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    validator_class = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": unicode_pattern})
    with open(schema_path) as f:
        validator = validator_class(json.load(f))
    problems = []
    for path in bundle_files():
        for error in validator.iter_errors(load_yaml(path)):
            while error.context:
                error = max(error.context, key=lambda e: len(e.absolute_path))
            problems.append(f"{path.name}: {'.'.join(map(str, error.absolute_path))}: {error.message[:200]}")
    assert not problems, "\n".join(problems)
