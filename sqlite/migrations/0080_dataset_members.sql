-- Dataset members in one place: until now a version's members were kept
-- twice, in its JSON body and (instance and subject only) in
-- dataset_members. From here dataset_members holds every member field in
-- version order and the body holds the manifest only. Existing versions
-- are moved as they are: ids and manifests do not change.

CREATE TABLE dataset_members_v2 (
	version_id   TEXT NOT NULL REFERENCES dataset_versions (id),
	seq          INTEGER NOT NULL, -- position in the version (members sorted by entry id)
	entry_id     TEXT NOT NULL,    -- the manifest entry (de-identified SOP Instance UID)
	instance_id  TEXT NOT NULL,    -- the collection instance
	subject      TEXT NOT NULL CHECK (length(subject) = 64),
	blob_subject TEXT NOT NULL CHECK (length(blob_subject) = 64),
	blob_digest  TEXT NOT NULL,
	blob_size    INTEGER NOT NULL,
	PRIMARY KEY (version_id, instance_id),
	UNIQUE (version_id, seq)
);

INSERT INTO dataset_members_v2 (version_id, seq, entry_id, instance_id, subject, blob_subject, blob_digest, blob_size)
SELECT v.id, CAST(m.key AS INTEGER),
	json_extract(m.value, '$.entry_id'), json_extract(m.value, '$.instance_id'), json_extract(m.value, '$.subject'),
	json_extract(m.value, '$.blob.subject'), json_extract(m.value, '$.blob.digest'), json_extract(m.value, '$.blob.size')
FROM dataset_versions v, json_each(v.body, '$.members') m;

DROP TABLE dataset_members;
ALTER TABLE dataset_members_v2 RENAME TO dataset_members;
CREATE INDEX dataset_members_subject ON dataset_members (subject);

UPDATE dataset_versions SET body = json_remove(body, '$.members') WHERE json_type(body, '$.members') IS NOT NULL;
