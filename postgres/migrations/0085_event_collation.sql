-- Event ids and case ids compare byte by byte (COLLATE "C"), as SQLite
-- compares them. Under the database's default collation (C.UTF-8 on the
-- development server, a language's rules elsewhere) every comparison in
-- the event table's key (dkey, event_id) and its (dkey, case_id) index
-- went through the C library's strcoll: an eighth to a third of the
-- time of inserting an event (docs/benchmarks-deploy.md, session 5).
-- The ids are opaque identifiers, never sorted for people. The labels'
-- case_id changes too: the two are joined, and columns of different
-- collations cannot be compared. Both tables and their indexes are
-- rewritten once.
ALTER TABLE inference_events
	ALTER COLUMN event_id TYPE TEXT COLLATE "C",
	ALTER COLUMN case_id TYPE TEXT COLLATE "C";
ALTER TABLE event_labels
	ALTER COLUMN case_id TYPE TEXT COLLATE "C";
