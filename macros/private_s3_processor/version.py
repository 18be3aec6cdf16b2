"""The project's version, in one place: the package metadata (pyproject.toml reads it),
``private-s3-processor --version``, the macro's log lines and the release artefacts."""

__version__ = "0.2.0"
