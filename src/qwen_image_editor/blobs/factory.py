"""`build_blob_store(settings)`: a folder by default, an S3-compatible bucket for QIE_BLOBS=s3://bucket/prefix."""

from __future__ import annotations

from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.settings import Settings


def build_blob_store(settings: Settings) -> BlobStore:
    if (s3 := settings.s3_blobs) is not None:
        from qwen_image_editor.blobs.s3 import S3BlobStore  # boto3 is imported only by those who use it

        bucket, prefix = s3
        return S3BlobStore(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url,
            presign_seconds=settings.s3_presign_seconds,
            embed_settings=settings.embed_settings,
        )
    return LocalBlobStore(settings.jobs_dir, embed_settings=settings.embed_settings)
