"""A job's region mask (issue 20) in every blob store: a role name of its own, greyscale, lossless."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from PIL import Image

from qwen_image_editor.blobs.base import MASK_NAME, BlobStore
from tests.blobs.test_contract import blobs  # noqa: F401 - the contract's fixture: the folder and S3


def test_the_mask_comes_back_lossless_and_opens_by_its_role_name(blobs: BlobStore) -> None:  # noqa: F811
    job_id = str(uuid.uuid4())
    mask = Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40), dtype=np.uint8), "L")
    assert blobs.save_mask(job_id, mask) == MASK_NAME == "mask.png"
    loaded = blobs.load_mask(job_id)
    assert loaded.mode == "L" and (np.asarray(loaded) == np.asarray(mask)).all()
    opened = blobs.open_file(job_id, MASK_NAME)
    assert opened.media_type == "image/png" and opened.read().startswith(b"\x89PNG")


def test_a_job_without_a_mask_has_none(blobs: BlobStore) -> None:  # noqa: F811
    job_id = str(uuid.uuid4())
    blobs.save_input(job_id, 1, Image.new("RGB", (8, 8)))
    with pytest.raises(FileNotFoundError):
        blobs.load_mask(job_id)
