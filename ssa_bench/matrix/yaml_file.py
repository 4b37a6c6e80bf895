"""Reading a spec file: every way a file can be wrong becomes one SpecError line.

Beyond ``yaml.safe_load``: a key written twice in one mapping is an error naming both lines
(PyYAML keeps the last silently), and a document whose aliases expand to more than
:data:`MAX_EXPANDED_NODES` nodes ("billion laughs") is refused while composing, before anything
builds or hashes it. A real spec has a few thousand nodes; the 10,000-run benchmark matrix ~1,000.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ssa_bench.errors import SpecError

MAX_EXPANDED_NODES = 200_000


class _SpecLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in first_line and key != "<<":
                    raise SpecError(f"key '{key}' is written twice (lines {first_line[key]} and {line})",
                                    file=self.name, key=key,
                                    fix="keep one of the two; YAML would silently use the last")
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


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


def read_spec_text(path: Path) -> str:
    file = str(path)
    if path.is_dir():
        raise SpecError("is a directory, not a spec file", file=file, key="SPEC",
                        fix="give the path of a YAML file inside it")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SpecError(f"cannot read the file ({error.strerror})", file=file, key="SPEC",
                        fix="check the path and its permissions") from None
    if b"\0" in data:
        raise SpecError("is a binary file, not a YAML spec", file=file, key="(file)",
                        fix="give the YAML spec (a text file)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise SpecError(f"is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line})", file=file,
                        key="(file)", fix="save the file as UTF-8") from None


def load_yaml(path: Path):
    """The parsed document of a spec file; SpecError for anything that is not a sane YAML text."""
    text = read_spec_text(path)
    loader = _SpecLoader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            _expanded_size(node, {})
        except OverflowError:
            raise SpecError(f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes", file=str(path),
                            key="(file)", fix="write the values out instead of nesting anchors (*alias) "
                                              "inside each other") from None
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(f"malformed YAML{where}: {problem}", file=str(path), key="(file)",
                        fix="fix the YAML syntax (indentation, a missing ':' or an unclosed bracket)") from None
    except RecursionError:
        raise SpecError("YAML nests too deeply", file=str(path), key="(file)",
                        fix="flatten the document") from None
    finally:
        loader.dispose()
