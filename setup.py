"""Build of hsclink's native extensions (everything else is in pyproject.toml).

``privacy._keyed`` is Cython linked against OpenSSL's libcrypto (Debian: libssl-dev):
the keyed tokens and Bloom masks of the ingest hot path. ``app.ingest._kernel`` is the
row loop of the upload pseudonymiser, calling into it, with ``app.ingest._memo`` (its
bounded memo tables keyed by cell text) and ``app.ingest._csvscan`` (its CSV splitting).
Why they exist and how they are
checked against the pure-Python definitions: privacy/_keyed.pyx and SECURITY.md.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "privacy._keyed",
        ["privacy/_keyed.pyx"],
        libraries=["crypto"],
        # SHA256_Init & co. are deprecated in OpenSSL 3 but remain its fastest HMAC path.
        extra_compile_args=["-O2", "-Wno-deprecated-declarations"],
    ),
    Extension("app.ingest._memo", ["app/ingest/_memo.pyx"], extra_compile_args=["-O2"]),
    Extension("app.ingest._csvscan", ["app/ingest/_csvscan.pyx"], extra_compile_args=["-O2"]),
    Extension(
        "app.ingest._kernel",
        ["app/ingest/_kernel.pyx"],
        extra_compile_args=["-O2", "-Wno-deprecated-declarations"],
    ),
]

setup(
    ext_modules=cythonize(
        extensions, include_path=["."], compiler_directives={"language_level": "3"}
    )
)
