"""The one YAML reader: every YAML file the product reads (specs, cluster profiles, the weights
catalog, the paper's numbers) and every ``--set`` value goes through :func:`read_yaml` or
:func:`parse_yaml_text`, so every way a file can be wrong becomes one line naming it.

Beyond ``yaml.safe_load``:

* a key written twice in one mapping is an error naming both lines (PyYAML keeps the last silently);
* a document whose aliases expand to more than :data:`MAX_EXPANDED_NODES` nodes ("billion laughs")
  is refused while composing, before anything builds or hashes it (a real spec has a few thousand
  nodes; the 10,000-run benchmark matrix ~1,000);
* ``1:30:00`` is the text it looks like, not YAML 1.1's base-60 integer 5400: a SLURM time limit
  written unquoted (``time: 24:00:00``) was read as 86400 minutes by the cluster profiles and
  refused as "not a string" by the spec;
* binary, non-UTF-8, unreadable files and directories are named as such, not as tracebacks.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from ssa_bench.errors import UserError

MAX_EXPANDED_NODES = 200_000
_BASE_60 = "(?::[0-5]?[0-9])+"     # the sexagesimal part of YAML 1.1's int and float patterns


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in first_line and key != "<<":
                    raise UserError(f"key '{key}' is written twice (lines {first_line[key]} and {line})",
                                    file=self.name, key=key,
                                    fix="keep one of the two; YAML would silently use the last")
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _drop_base_60(pattern: str) -> str:
    """PyYAML writes each alternative on its own line (a verbose regex): drop the base-60 ones."""
    kept: list[str] = []
    for line in pattern.split("\n"):
        if _BASE_60 not in line:
            kept.append(line)
        elif line.rstrip().endswith(")$"):      # the last alternative closes the group
            kept[-1] += ")$"
    return "\n".join(kept)


def _without_base_60(resolvers: dict) -> dict:
    """SafeLoader's implicit resolvers with the sexagesimal alternatives of int and float removed."""
    out: dict = {}
    for first, entries in resolvers.items():
        kept = []
        for tag, pattern in entries:
            if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
                pattern = re.compile(_drop_base_60(pattern.pattern), pattern.flags)
            kept.append((tag, pattern))
        out[first] = kept
    return out


_Loader.yaml_implicit_resolvers = _without_base_60(yaml.SafeLoader.yaml_implicit_resolvers)


def _expanded_size(node, memo: dict) -> int:
    """Nodes the document has once every alias is expanded; linear in the distinct nodes."""
    known = memo.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[id(node)] = size
    if size > MAX_EXPANDED_NODES:
        raise OverflowError(size)
    return size


def _where(error: yaml.YAMLError) -> str:
    """' at line 2, column 7: while scanning a quoted scalar: found unexpected end of stream (line 3,
    column 1)': the construct that was left open is where the typo usually is."""
    def at(mark) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}"

    problem_mark, context_mark = getattr(error, "problem_mark", None), getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    if context_mark is not None and context:
        return f" at {at(context_mark)}: {context}: {problem}" + (f" ({at(problem_mark)})" if problem_mark else "")
    return f" at {at(problem_mark)}: {problem}" if problem_mark is not None else f": {problem}"


def read_text(path: Path, *, error: type = UserError, what: str = "YAML file", arg: str | None = None) -> str:
    """The file's text; ``error`` naming the file (and ``arg``, the option that named it) when it is a
    directory, unreadable, binary or not UTF-8."""
    file = str(path)
    if path.is_dir():
        raise error(f"is a directory, not a {what}", file=file, key=arg,
                    fix="give the path of a YAML file inside it")
    try:
        data = path.read_bytes()
    except OSError as problem:
        raise error(f"cannot read the file ({problem.strerror})", file=file, key=arg,
                    fix="check the path and its permissions") from None
    if b"\0" in data:
        raise error(f"is a binary file, not a {what}", file=file, key="(file)", fix=f"give the {what} (a text file)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = data[:problem.start].count(b"\n") + 1
        raise error(f"is not UTF-8 text (byte 0x{data[problem.start]:02x} on line {line})", file=file,
                    key="(file)", fix="save the file as UTF-8") from None


def parse_yaml_text(text: str, *, name: str | None = None, error: type = UserError, key: str = "(file)"):
    """The parsed document of a YAML text (``None`` when it holds none); ``error`` for anything that
    is not a sane YAML document, at ``key`` of the file ``name``."""
    loader = _Loader(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            _expanded_size(node, {})
        except OverflowError:
            raise error(f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes", file=name, key=key,
                        fix="write the values out instead of nesting anchors (*alias) inside each other") from None
        return loader.construct_document(node)
    except UserError as duplicate:
        if isinstance(duplicate, error):
            raise
        raise error(duplicate.message, file=duplicate.file, key=duplicate.key, fix=duplicate.fix) from None
    except yaml.YAMLError as problem:
        raise error(f"malformed YAML{_where(problem)}", file=name, key=key,
                    fix="fix the YAML syntax (indentation, a missing ':', an unclosed bracket or quote)") from None
    except RecursionError:
        raise error("YAML nests too deeply", file=name, key=key, fix="flatten the document") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path, *, error: type = UserError, what: str = "YAML file", arg: str | None = None):
    """The parsed document of a YAML file (``None`` for an empty one); ``error`` (a UserError class)
    naming the file, and the key where there is one, for anything else."""
    path = Path(path)
    return parse_yaml_text(read_text(path, error=error, what=what, arg=arg), name=str(path), error=error)
