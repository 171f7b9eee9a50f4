"""The error types at the import path the README documents; defined in
:mod:`advisor.vocabulary.errors`."""

from advisor.vocabulary.errors import (
    AdvisorError,
    ArtifactError,
    DataFileError,
    InvalidInputError,
    NothingFitsError,
    UnknownNameError,
)

__all__ = ["AdvisorError", "ArtifactError", "DataFileError", "InvalidInputError",
           "NothingFitsError", "UnknownNameError"]
