"""A YAML loader for config files that refuses duplicate keys.

PyYAML's SafeLoader keeps the last of two equal keys, so a camera id pasted twice silently replaces
the first camera. :class:`UniqueKeyLoader` scans the composed node tree before constructing any
Python object and reports every duplicate with its dotted path and both line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    """One key given twice in the same mapping.

    Attributes:
        path: keys and list indices from the document root to the mapping's entry.
        line: 1-based line of the second occurrence.
        column: 1-based column of the second occurrence.
        first_line: 1-based line of the first occurrence.
    """

    path: tuple[str | int, ...]
    line: int
    column: int
    first_line: int


class DuplicateKeyError(yaml.YAMLError):
    """Raised by :class:`UniqueKeyLoader`; ``duplicates`` lists all of them, in document order."""

    def __init__(self, duplicates: list[DuplicateKey]) -> None:
        self.duplicates = duplicates
        super().__init__(f"{len(duplicates)} duplicate key(s)")


def find_duplicate_keys(root: yaml.Node) -> list[DuplicateKey]:
    """Every key that appears twice in one mapping of the node tree under ``root``.

    Keys are compared by resolved tag and text, so ``1`` and ``"1"`` differ as they would after
    construction. Keys brought in by a YAML merge (``<<: *base``) may be overridden, as the YAML
    spec allows; only explicit keys are compared with each other.
    """
    found: list[DuplicateKey] = []
    seen_nodes: set[int] = set()  # aliases share nodes: visit each once, and never loop
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        children: list[tuple[yaml.Node, tuple[str | int, ...]]] = []
        if isinstance(node, yaml.MappingNode):
            first_seen: dict[tuple[str, Any], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    children.append((value_node, path))
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    children.append((value_node, (*path, "?")))
                    continue
                key_path = (*path, str(key_node.value))
                ident = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if ident in first_seen:
                    found.append(
                        DuplicateKey(
                            key_path, line, key_node.start_mark.column + 1, first_seen[ident]
                        )
                    )
                else:
                    first_seen[ident] = line
                children.append((value_node, key_path))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, index)) for index, item in enumerate(node.value)]
        stack.extend(reversed(children))
    found.sort(key=lambda dup: (dup.line, dup.column))
    return found


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that raises :class:`DuplicateKeyError` instead of overwriting a repeated key."""

    def construct_document(self, node: yaml.Node) -> Any:
        duplicates = find_duplicate_keys(node)
        if duplicates:
            raise DuplicateKeyError(duplicates)
        return super().construct_document(node)


def load_yaml(text: str) -> Any:
    """Parse one YAML document with :class:`UniqueKeyLoader`.

    Raises:
        DuplicateKeyError: a mapping repeats a key.
        yaml.YAMLError: any other syntax or construction error (with its marks).
    """
    loader = UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
