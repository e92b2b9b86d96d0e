"""The wheel the bundle installs on clusters carries the kit and the connector."""
import subprocess
import sys
import zipfile

import pytest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."],
        check=True,
    )
    (path,) = out.glob("*.whl")
    return path


def test_wheel_holds_the_connector_the_kit_and_the_cli(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "solutions/datasource.py",
        "solutions/reader.py",
        "solutions/writer.py",
        "workshop/spark.py",
        "workshop/service/__init__.py",
        "workshop/checks/__init__.py",
        "workshop/log4j2.properties",
    ):
        assert module in names, f"{module} missing from {wheel.name}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "workshop = workshop.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_no_importable_module_is_a_databricks_notebook(wheel):
    archive = zipfile.ZipFile(wheel)
    for name in archive.namelist():
        if name.endswith(".py"):
            first = archive.read(name).decode().split("\n", 1)[0]
            assert first.strip() != "# Databricks notebook source", name
