"""Signed models: a ``verify=`` callable for :meth:`Model.load` and
:meth:`Detector.from_file` that accepts a model only if its bytes are the single file a
trusted signed manifest lists (:mod:`edgekit.secure.artifact`).

>>> from edgekit.secure import sign_artifact, generate_key       # doctest: +SKIP
>>> sign_artifact("face.tflite", key, name="face", version="3")  # writes the manifest beside
>>> det = Detector.from_file("face.tflite",
...                          verify=signed_model(trusted_keys=[key.public_key()],
...                                              name="face", installed="2"))

The check runs on the exact bytes the runtime will load (read once), after edgekit's
structural check of the flatbuffer and before any runtime sees the model: a tampered,
re-signed-by-a-stranger, expired or rolled-back model is refused with
:class:`~edgekit.errors.SignatureError` (or ``ExpiredError``/``RollbackError``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgekit.errors import SignatureError
from edgekit.infer.runtime import Verifier

__all__ = ["signed_model"]


def signed_model(manifest: bytes | str | os.PathLike[str] | None = None, *,
                 trusted_keys: Any | Iterable[Any], **options: Any) -> Verifier:
    """A ``verify(model_bytes, path)`` callable requiring a trusted signature.

    Args:
        manifest: the signed manifest (bytes, JSON text or a path); ``None`` looks for it
            beside the model file (``edgekit.secure.default_manifest_path``).
        trusted_keys: public keys (or certificates) that may sign models.
        options: passed to :func:`edgekit.secure.verify_manifest`: ``threshold``,
            ``installed`` and ``require_newer`` (rollback), ``at`` (expiry), ``name`` (the
            artifact name the manifest must carry).
    """
    from edgekit.secure.artifact import Manifest, check_files, default_manifest_path
    from edgekit.secure.artifact import verify_manifest as _verify

    def verify(data: bytes, path: str | None) -> None:
        source = manifest
        if source is None:
            if path is None:
                raise SignatureError("a model loaded from bytes needs its manifest passed "
                                     "explicitly", reason="malformed")
            source = default_manifest_path(path)
        if isinstance(source, (str, os.PathLike)) and not (
                isinstance(source, str) and source.lstrip().startswith("{")):
            try:
                source = Path(source).read_bytes()
            except OSError as err:
                raise SignatureError(f"cannot read the signed manifest {source}: "
                                     f"{err.strerror or err}", reason="malformed") from err
        m = _verify(source, trusted_keys, **options)
        if m.kind != "file" or len(m.files) != 1:
            raise SignatureError("the manifest does not sign a single model file",
                                 reason="kind")
        check_files(Manifest(name=m.name, version=m.version, created=m.created, kind="blobs",
                             files=m.files, expires=m.expires, metadata=m.metadata,
                             key_ids=m.key_ids), {m.files[0].path: data})

    return verify
