"""synpref from Python: reward-model scoring, tokenizers, chat templates, preference data, benchmarks.

    import synpref
    rm = synpref.RewardModel("path/to/reward-model", threads=8)
    rm.score([[{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]])

Everything runs in-process on synpref's C++ engine (no server); results equal the ``synpref`` CLI's
bit for bit, and the GIL is released while the engine computes. Errors are ``synpref.Error``
subclasses carrying the library's message. See docs/python.md.
"""

from ._synpref import (
    Benchmark,
    DataError,
    Error,
    Evaluation,
    InvalidArgumentError,
    IoError,
    Metric,
    NotFoundError,
    ReadResult,
    RewardModel,
    Tokenizer,
    UnsupportedError,
    benchmarks,
    convert,
    eval,
    load_benchmark,
    read_records,
    write_records,
)

__version__ = "0.1.0"

__all__ = [
    "Benchmark",
    "DataError",
    "Error",
    "Evaluation",
    "InvalidArgumentError",
    "IoError",
    "Metric",
    "NotFoundError",
    "ReadResult",
    "RewardModel",
    "Tokenizer",
    "UnsupportedError",
    "benchmarks",
    "convert",
    "eval",
    "load_benchmark",
    "read_records",
    "write_records",
]
