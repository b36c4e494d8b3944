"""Uploads stop being stored once they pass the size limit.

Django checks nothing about a file's size while it arrives: a 5 GB upload is written to a
temporary file in full before any form can refuse it. `SizeLimitUploadHandler` runs first
among the upload handlers (FILE_UPLOAD_HANDLERS): once a file passes IMPORT_MAX_UPLOAD_MB it
passes no more data on (the rest of the request is read and dropped) and hands the form an
empty stand-in whose `size` is what arrived, so the form's own size check refuses it with
its translated message. The import wizard is the only upload; admin pages have none.
"""

from io import BytesIO

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class OversizedUpload(InMemoryUploadedFile):
    """What arrives instead of a file over the limit: no content, the size seen so far."""

    def __init__(self, *, field_name: str, name: str, content_type: str, size: int):
        super().__init__(BytesIO(b""), field_name, name, content_type, size, None)


class SizeLimitUploadHandler(FileUploadHandler):
    def new_file(
        self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None
    ):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self.limit = settings.IMPORT_MAX_UPLOAD_MB * 1024 * 1024
        self.seen = 0

    def receive_data_chunk(self, raw_data, start):
        self.seen = start + len(raw_data)
        # None: the handlers after this one (memory, temporary file) get nothing more.
        return raw_data if self.seen <= self.limit else None

    def file_complete(self, file_size):
        if self.seen <= self.limit:
            return None  # the next handler's file stands
        return OversizedUpload(
            field_name=self.field_name, name=self.file_name, content_type=self.content_type, size=self.seen
        )
