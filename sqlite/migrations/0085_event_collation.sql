-- PostgreSQL's 0085 makes event ids and case ids compare byte by byte
-- (COLLATE "C"), for speed. SQLite already compares text that way
-- (BINARY, its default), so nothing changes here; the file keeps both
-- dialects' migration lists alike.
SELECT 1;
