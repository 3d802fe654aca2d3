-- Where a stored instance's pixel data value lies in its file, as ingest
-- found it while reading the header (ethos.PixelValue): the element's tag,
-- the value's offset and length, whether it is encapsulated, and the
-- file's transfer syntax. A processing run compares an output's pixel
-- data with the input's there instead of reading the input's header
-- again, once the authenticated read of the blob has given it the file
-- and the bytes before the offset are that element's header
-- (docs/processing.md). NULL for instances stored before this migration,
-- and for files with no pixel data, several pixel data elements or a
-- deflated data set (runs read those files' headers).
ALTER TABLE instances ADD COLUMN pixel_tag BIGINT;
ALTER TABLE instances ADD COLUMN pixel_offset BIGINT;
ALTER TABLE instances ADD COLUMN pixel_length BIGINT;
ALTER TABLE instances ADD COLUMN pixel_encapsulated BOOLEAN;
ALTER TABLE instances ADD COLUMN pixel_syntax TEXT;
