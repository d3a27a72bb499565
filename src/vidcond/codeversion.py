"""Code versions of workflow jobs: content hashes of the code a job runs.

A job's version covers its thin script and the package modules that script imports,
followed transitively through the modules' own ``import`` / ``from ... import`` statements
(read with :mod:`ast`, never imported, so no heavy dependency loads at DAG time). Importing
``pkg.a.b`` also runs ``pkg/__init__.py`` and ``pkg/a/__init__.py``, so parent packages
count as imported. Dynamic imports are invisible to the static graph: in particular the
method registry (``methods/__init__.py``) discovers every method module at run time, and a
condensation job adds the one method it runs (:meth:`CodeVersions.method_modules`) instead
of all of them. The workflow passes the versions through ``params:`` so that editing a
module reruns exactly the jobs whose code includes it; touching a file without changing it
reruns nothing.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path


class CodeVersions:
    """Import graph and content hashes of the package rooted at ``package_dir`` (its name
    is the folder's), and versions of the scripts in ``scripts_dir``. Every file is read
    and parsed at most once per instance (one per workflow invocation)."""

    def __init__(self, package_dir: Path | str, scripts_dir: Path | str | None = None):
        self.package_dir = Path(package_dir)
        self.package = self.package_dir.name
        self.scripts_dir = Path(scripts_dir) if scripts_dir is not None else None
        self._source = lru_cache(maxsize=None)(Path.read_bytes)
        self._imports = lru_cache(maxsize=None)(self._direct_imports)

    def module_file(self, module: str) -> Path | None:
        """The source file of a package module (``pkg.a.b``), None outside the package or
        when no such file exists (a name imported from a module, not a submodule)."""
        parts = module.split(".")
        if parts[0] != self.package:
            return None
        base = self.package_dir.joinpath(*parts[1:])
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return path
        return None

    def _is_package(self, module: str) -> bool:
        path = self.module_file(module)
        return path is not None and path.name == "__init__.py"

    def _parents(self, module: str) -> list[str]:
        parts = module.split(".")
        return [".".join(parts[:i]) for i in range(1, len(parts))]

    def _imported_names(self, tree: ast.AST, module: str | None) -> set[str]:
        """Package modules named by the import statements of ``tree`` (anywhere in it, lazy
        imports included), for the source of ``module`` (None: a script outside the package)."""
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolved against the importing module's package
                    if module is None:
                        continue
                    anchor = module.split(".")
                    if not self._is_package(module):
                        anchor = anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    source = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    source = node.module
                found.add(source)
                # `from pkg.a import b` imports the submodule pkg.a.b when there is one
                found.update(f"{source}.{alias.name}" for alias in node.names if alias.name != "*")
        return {name for name in found if self.module_file(name) is not None}

    def _direct_imports(self, module: str) -> frozenset[str]:
        path = self.module_file(module)
        tree = ast.parse(self._source(path), filename=str(path))
        return frozenset(self._imported_names(tree, module))

    def closure(self, modules) -> set[str]:
        """``modules``, their parent packages and everything they import, transitively."""
        seen: set[str] = set()
        todo = list(modules)
        while todo:
            module = todo.pop()
            if module in seen or self.module_file(module) is None:
                continue
            seen.add(module)
            todo.extend(self._parents(module))
            todo.extend(self._imports(module))
        return seen

    def digest(self, modules, files=()) -> str:
        """A short hash of the contents of ``modules`` (with their names) and ``files``."""
        h = hashlib.sha256()
        for module in sorted(modules):
            h.update(f"{module}\0".encode())
            h.update(self._source(self.module_file(module)))
            h.update(b"\0")
        for path in files:
            h.update(f"{Path(path).name}\0".encode())
            h.update(self._source(Path(path)))
            h.update(b"\0")
        return h.hexdigest()[:16]

    def script_modules(self, script: Path | str) -> set[str]:
        """The package modules a script runs (its imports, transitively)."""
        path = Path(script)
        tree = ast.parse(self._source(path), filename=str(path))
        return self.closure(self._imported_names(tree, None))

    def script_version(self, script: str, extra_modules=()) -> str:
        """The version of a job running ``<scripts_dir>/<script>.py``: the script's content
        and the closure of its imports and of ``extra_modules``."""
        path = self.scripts_dir / f"{script}.py"
        modules = self.script_modules(path) | self.closure(extra_modules)
        return self.digest(modules, files=[path])

    def method_modules(self, kind: str) -> set[str]:
        """The module of the registered condensation method ``kind`` (the one whose class
        sets ``name = kind``); a +SD method's base module is among its imports."""
        methods = f"{self.package}.methods"
        for path in sorted((self.package_dir / "methods").glob("*.py")):
            attributes = _class_string_attributes(self._source(path), path)
            for names in attributes:
                if names.get("name") == kind:
                    return {f"{methods}.{path.stem}"}
        raise KeyError(f"no method module registers {kind!r} in {self.package_dir / 'methods'}")

    def condense_version(self, script: str, kind: str) -> str:
        """The version of a condensation job of method ``kind``."""
        return self.script_version(script, extra_modules=self.method_modules(kind))


def _class_string_attributes(source: bytes, path: Path) -> list[dict[str, str]]:
    """Per class of a module, its class-level string attributes (``name = "dm"``, and
    tuple assignments ``a, b = "x", "y"`` alike)."""
    classes = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if not isinstance(node, ast.ClassDef):
            continue
        strings = {}
        for statement in node.body:
            if not isinstance(statement, ast.Assign):
                continue
            for target in statement.targets:
                pairs = []
                if isinstance(target, ast.Name):
                    pairs = [(target, statement.value)]
                elif isinstance(target, ast.Tuple) and isinstance(statement.value, ast.Tuple):
                    pairs = list(zip(target.elts, statement.value.elts))
                for name, value in pairs:
                    if (
                        isinstance(name, ast.Name)
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        strings[name.id] = value.value
        classes.append(strings)
    return classes
