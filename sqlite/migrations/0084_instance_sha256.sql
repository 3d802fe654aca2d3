-- The SHA-256 of a stored instance's plaintext, as ingest computed it
-- (the blob store derives the blob's address from it). A processing run
-- records it as the input's digest instead of hashing the input again,
-- after checking that it yields the blob's address (docs/processing.md).
-- NULL for instances stored before this column existed (runs hash those).
ALTER TABLE instances ADD COLUMN plain_sha256 TEXT;
