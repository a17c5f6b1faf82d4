# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""
The resumable JSONL cache of sampled records.

While a run works, every process appends the records of each finished chunk to its own part file
(`<name>.part-<rank>.jsonl`, or any `part_pattern` with a `{rank}` field); a rerun reads the finished file and every
part file and keeps the complete records (those with all their samples), so only the missing items are sampled again.
At the end the main process writes all records, in order, to the finished file and removes the part files. A line cut
short by an interruption is skipped on reading (its chunk is redone) and closed before the next append.
"""

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


# The file names of a cache that has no names of its own (the evaluator's).
SAMPLES_FILENAME = "samples.jsonl"
PART_PATTERN = "samples.part-{rank}.jsonl"


def write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file: a crash while writing leaves the previous file, never a
    truncated one."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """
    The records of a JSONL file, skipping blank lines and lines that are not valid JSON (cut short by an
    interruption).

    Args:
        path (`str`):
            The file.

    Returns:
        `list[dict]`: The records, in file order.
    """
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by an interruption: its chunk is redone
                continue
    return records


def append_jsonl(path: str, records: Sequence[dict[str, Any]]) -> None:
    """
    Append records to a JSONL file, one line each (the file is created when missing).

    Args:
        path (`str`):
            The file.
        records (`Sequence[dict]`):
            JSON-serialisable records.
    """
    with open(path, "ab+") as f:
        # A line cut short by an interruption is closed first, so that it stays one bad line and the new records
        # start on lines of their own.
        if os.path.getsize(path) > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write("".join(json.dumps(record) + "\n" for record in records).encode())


def load_done_records(
    directory: str,
    num_samples: int,
    filename: str = SAMPLES_FILENAME,
    part_pattern: str = PART_PATTERN,
    id_key: str = "id",
    samples_key: str = "correct",
) -> dict[Any, dict[str, Any]]:
    """
    The complete records of a cache directory: those of the finished file and of every process's part file whose
    `samples_key` list holds `num_samples` values (a later file's record of the same id wins).

    Args:
        directory (`str`):
            The cache directory.
        num_samples (`int`):
            Samples of a complete record.
        filename (`str`, *optional*, defaults to `"samples.jsonl"`):
            The finished file's name.
        part_pattern (`str`, *optional*, defaults to `"samples.part-{rank}.jsonl"`):
            The part files' name, with a `{rank}` field (other braces doubled).
        id_key (`str`, *optional*, defaults to `"id"`), samples_key (`str`, *optional*, defaults to `"correct"`):
            The record's id and its per-sample list.

    Returns:
        `dict`: The complete records by id.
    """
    paths = [os.path.join(directory, filename)]
    paths += sorted(glob.glob(os.path.join(directory, part_pattern.format(rank="*"))))
    done = {}
    for path in paths:
        if os.path.isfile(path):
            for record in read_jsonl(path):
                if len(record.get(samples_key, [])) == num_samples:
                    done[record[id_key]] = record
    return done


def finish_parts(directory: str, records: Sequence[dict[str, Any]], filename: str, part_pattern: str) -> None:
    """
    Write all records to the finished file and remove every process's part file (main process only).

    Args:
        directory (`str`):
            The cache directory.
        records (`Sequence[dict]`):
            All records, in order.
        filename (`str`), part_pattern (`str`):
            As in [`load_done_records`].
    """
    write_atomic(os.path.join(directory, filename), "".join(json.dumps(record) + "\n" for record in records))
    for path in glob.glob(os.path.join(directory, part_pattern.format(rank="*"))):
        os.remove(path)


def part_pattern_of(filename: str) -> str:
    """
    The part-file pattern of a finished file that has no pattern of its own: `<filename>.part-{rank}`.

    Args:
        filename (`str`):
            The finished file's name; its braces are escaped, as `{rank}` is filled in with `str.format`.

    Returns:
        `str`: The pattern.
    """
    return filename.replace("{", "{{").replace("}", "}}") + ".part-{rank}"


@dataclass(frozen=True)
class SampleCache:
    """
    One cache of sampled records: a directory, its finished file and its part files, and how a record names its item
    and holds its samples.

    Args:
        directory (`str`):
            Where the files are.
        filename (`str`):
            The finished file (e.g. `samples.jsonl`).
        part_pattern (`str`):
            The part files, with a `{rank}` field (e.g. `samples.part-{rank}.jsonl`).
        id_key (`str`, *optional*, defaults to `"id"`):
            The record field naming its item.
        samples_key (`str`, *optional*, defaults to `"correct"`):
            A record field with one value per sample: a record is complete when it has `num_samples` of them.
    """

    directory: str
    filename: str
    part_pattern: str
    id_key: str = "id"
    samples_key: str = "correct"

    def load(self, num_samples: int) -> dict[Any, dict[str, Any]]:
        """The complete records already cached, by id (see [`load_done_records`])."""
        return load_done_records(
            self.directory, num_samples, self.filename, self.part_pattern, self.id_key, self.samples_key
        )

    def part_path(self, rank: int) -> str:
        """The part file of process `rank`."""
        return os.path.join(self.directory, self.part_pattern.format(rank=rank))

    def append(self, rank: int, records: Sequence[dict[str, Any]]) -> None:
        """Append finished records to the part file of process `rank`."""
        append_jsonl(self.part_path(rank), records)

    def finish(self, records: Sequence[dict[str, Any]]) -> None:
        """Write all records to the finished file and remove the part files (main process only)."""
        finish_parts(self.directory, records, self.filename, self.part_pattern)

    @property
    def path(self) -> str:
        """The finished file."""
        return os.path.join(self.directory, self.filename)


def merge_records(
    done: dict[Any, dict[str, Any]], new_records: Sequence[dict[str, Any]], ids: Sequence[Any], id_key: str = "id"
) -> list[dict[str, Any]]:
    """
    The record of every item in order: the newly sampled one, else the cached one.

    Args:
        done (`dict`):
            Cached records by id.
        new_records (`Sequence[dict]`):
            Records sampled by this run (all processes).
        ids (`Sequence`):
            The items, in the order of the result.
        id_key (`str`, *optional*, defaults to `"id"`):
            The record field naming its item.

    Returns:
        `list[dict]`: One record per id.
    """
    by_id = {**done, **{record[id_key]: record for record in new_records}}
    return [by_id[item_id] for item_id in ids]
