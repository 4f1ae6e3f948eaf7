"""The one place pynn's version is written.

``pyproject.toml`` reads it at build time (``[tool.setuptools.dynamic]``),
``pynn.__version__`` re-exports it, and saved model files record it.  It is a
plain assignment so that setuptools can read it without importing pynn
(whose compiled modules do not exist yet when the build starts).
"""

__version__ = "0.1.0"
