"""The reference connector for the practice service, one module per layer.

options -> client -> partitioning -> conversion -> reader / writer -> datasource
"""


def __getattr__(name):
    # `from solutions import PracticeDataSource` imports the connector on first use, so
    # `python -m solutions.options` does not import solutions.options twice (runpy warns).
    if name == "PracticeDataSource":
        from solutions.datasource import PracticeDataSource

        return PracticeDataSource
    raise AttributeError(f"module 'solutions' has no attribute {name!r}")


__all__ = ["PracticeDataSource"]
