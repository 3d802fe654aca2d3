-- Dataset members in one place: until now a version's members were kept
-- twice, in its JSON body and (instance and subject only) in
-- dataset_members. From here dataset_members holds every member field in
-- version order and the body holds the manifest only. Existing versions
-- are moved as they are: ids and manifests do not change.

CREATE TABLE dataset_members_v2 (
	version_id   TEXT NOT NULL REFERENCES dataset_versions (id),
	seq          BIGINT NOT NULL, -- position in the version (members sorted by entry id)
	entry_id     TEXT NOT NULL,   -- the manifest entry (de-identified SOP Instance UID)
	instance_id  TEXT NOT NULL,   -- the collection instance
	subject      TEXT NOT NULL CHECK (length(subject) = 64),
	blob_subject TEXT NOT NULL CHECK (length(blob_subject) = 64),
	blob_digest  TEXT NOT NULL,
	blob_size    BIGINT NOT NULL,
	PRIMARY KEY (version_id, instance_id),
	UNIQUE (version_id, seq)
);

INSERT INTO dataset_members_v2 (version_id, seq, entry_id, instance_id, subject, blob_subject, blob_digest, blob_size)
SELECT v.id, m.ord - 1,
	m.value ->> 'entry_id', m.value ->> 'instance_id', m.value ->> 'subject',
	m.value -> 'blob' ->> 'subject', m.value -> 'blob' ->> 'digest', (m.value -> 'blob' ->> 'size')::BIGINT
FROM dataset_versions v
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(v.body::jsonb -> 'members') = 'array' THEN v.body::jsonb -> 'members' ELSE '[]'::jsonb END)
	WITH ORDINALITY AS m(value, ord);

DROP TABLE dataset_members;
ALTER TABLE dataset_members_v2 RENAME TO dataset_members;
CREATE INDEX dataset_members_subject ON dataset_members (subject);

-- The body loses its members; the rest is rewritten by jsonb (key order
-- and spacing change, values do not), and read back by encoding/json.
UPDATE dataset_versions SET body = (body::jsonb - 'members')::text WHERE body::jsonb -> 'members' IS NOT NULL;
