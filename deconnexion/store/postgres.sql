-- SQL of the PostgreSQL hold store (deconnexion/store/postgres.py), one named block per query.
-- {schema} is the quoted schema identifier, {columns} the HeldMessage columns read from
-- held AS h joined with held_body AS b; both are filled once when the store opens.

-- name: migration_lock
SELECT pg_advisory_xact_lock(hashtextextended(%(scope)s, 0));

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS {schema};

-- name: tables
SELECT table_name FROM information_schema.tables
WHERE table_schema = %(schema)s ORDER BY table_name;

-- name: version_table
CREATE TABLE IF NOT EXISTS {schema}.deconnexion_schema (
    app     text PRIMARY KEY CHECK (app = 'deconnexion'),
    version integer NOT NULL
);

-- name: version_get
SELECT version FROM {schema}.deconnexion_schema;

-- name: version_set
INSERT INTO {schema}.deconnexion_schema (app, version) VALUES ('deconnexion', %(version)s)
ON CONFLICT (app) DO UPDATE SET version = excluded.version;

-- name: listen
LISTEN {channel};

-- name: schema_v1
CREATE TABLE {schema}.held (
    seq                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                     text NOT NULL UNIQUE,
    establishment          text NOT NULL,
    idempotency_key        text NOT NULL,
    collapse_key           text,
    kind                   text NOT NULL,
    audience               text NOT NULL,
    sender_role            text NOT NULL,
    urgent                 boolean NOT NULL,
    priority               smallint NOT NULL,
    recipients             jsonb NOT NULL,
    content_type           text NOT NULL,
    created_at             double precision NOT NULL,
    release_at             double precision NOT NULL,
    next_attempt_at        double precision NOT NULL,
    reasons                jsonb NOT NULL,
    state                  text NOT NULL CHECK (
        state IN ('held', 'claimed', 'released', 'cancelled', 'replaced', 'dead')),
    attempts               integer NOT NULL DEFAULT 0,
    lease_until            double precision,
    worker_id              text,
    last_error             text,
    released_at            double precision,
    actor                  text,
    justification          text,
    publish_to_students_at double precision,
    held_at                double precision NOT NULL,
    held_release_at        double precision NOT NULL,
    UNIQUE (establishment, idempotency_key)
);
-- the bulky part, written once: a state change writes only a narrow row version
-- (no foreign key: only this store writes both tables, always in one transaction)
CREATE TABLE {schema}.held_body (
    seq      bigint PRIMARY KEY,
    payload  bytea NOT NULL,
    meta     jsonb NOT NULL,
    decision jsonb NOT NULL
);
CREATE UNIQUE INDEX held_collapse ON {schema}.held (establishment, collapse_key)
    WHERE state = 'held' AND collapse_key IS NOT NULL;
CREATE INDEX held_due ON {schema}.held (release_at, priority, seq) WHERE state = 'held';
CREATE INDEX held_retry ON {schema}.held (next_attempt_at)
    WHERE state = 'held' AND next_attempt_at > release_at;
CREATE INDEX held_lease ON {schema}.held (lease_until) WHERE state = 'claimed';
CREATE INDEX held_tenant ON {schema}.held (establishment, seq) WHERE state = 'held';
CREATE TABLE {schema}.audit (
    n             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            double precision NOT NULL,
    establishment text NOT NULL,
    message_id    text,
    action        text NOT NULL,
    actor         text,
    detail        jsonb NOT NULL
);
CREATE INDEX audit_tenant ON {schema}.audit (establishment, at);

-- name: find_keys
SELECT h.establishment, h.idempotency_key, h.id, h.release_at, h.state
FROM {schema}.held AS h
JOIN unnest(%(establishments)s::text[], %(keys)s::text[]) AS k (establishment, key)
  ON h.establishment = k.establishment AND h.idempotency_key = k.key;

-- name: find_collapse
SELECT h.establishment, h.collapse_key, h.id
FROM {schema}.held AS h
JOIN unnest(%(establishments)s::text[], %(keys)s::text[]) AS k (establishment, key)
  ON h.establishment = k.establishment AND h.collapse_key = k.key
WHERE h.state = 'held' AND h.collapse_key IS NOT NULL;

-- name: mark_replaced
UPDATE {schema}.held SET state = 'replaced'
WHERE id = ANY(%(ids)s::text[]) AND state = 'held'
RETURNING id;

-- name: insert_many
-- one round trip per batch: columns as parallel arrays, rows kept in the order given
WITH rows AS (
    SELECT * FROM unnest(
        %(id)s::text[], %(establishment)s::text[], %(idempotency_key)s::text[],
        %(collapse_key)s::text[], %(kind)s::text[], %(audience)s::text[],
        %(sender_role)s::text[], %(urgent)s::boolean[], %(priority)s::smallint[],
        %(recipients)s::jsonb[], %(content_type)s::text[], %(created_at)s::float8[],
        %(release_at)s::float8[], %(next_attempt_at)s::float8[], %(reasons)s::jsonb[],
        %(state)s::text[], %(actor)s::text[], %(justification)s::text[],
        %(publish_to_students_at)s::float8[], %(payload)s::bytea[], %(meta)s::jsonb[],
        %(decision)s::jsonb[]
    ) WITH ORDINALITY AS r (
        id, establishment, idempotency_key, collapse_key, kind, audience, sender_role, urgent,
        priority, recipients, content_type, created_at, release_at, next_attempt_at, reasons,
        state, actor, justification, publish_to_students_at, payload, meta, decision, ord
    )
), inserted AS (
    INSERT INTO {schema}.held (
        id, establishment, idempotency_key, collapse_key, kind, audience, sender_role, urgent,
        priority, recipients, content_type, created_at, release_at, next_attempt_at, reasons,
        state, actor, justification, publish_to_students_at, held_at, held_release_at
    )
    SELECT id, establishment, idempotency_key, collapse_key, kind, audience, sender_role,
           urgent, priority, recipients, content_type, created_at, release_at,
           next_attempt_at, reasons, state, actor, justification, publish_to_students_at,
           %(now)s, release_at
    FROM rows ORDER BY ord
    RETURNING seq, id
)
INSERT INTO {schema}.held_body (seq, payload, meta, decision)
SELECT inserted.seq, rows.payload, rows.meta, rows.decision
FROM inserted JOIN rows ON rows.id = inserted.id;

-- name: insert_audit
INSERT INTO {schema}.audit (at, establishment, message_id, action, actor, detail)
VALUES (%s, %s, %s, %s, %s, %s);

-- name: lock_establishment
-- serialises inserts per establishment: idempotency and collapse checks then see every
-- concurrent insert that committed before
SELECT pg_advisory_xact_lock(hashtextextended(%(scope)s || ':' || e, 0))
FROM unnest(%(establishments)s::text[]) AS e ORDER BY e;

-- name: notify
SELECT pg_notify(%(channel)s, %(at)s::text);

-- name: get
SELECT {columns} FROM {schema}.held AS h JOIN {schema}.held_body AS b ON b.seq = h.seq
WHERE h.id = %(id)s AND h.establishment = %(establishment)s;

-- name: list
SELECT {columns} FROM {schema}.held AS h JOIN {schema}.held_body AS b ON b.seq = h.seq
WHERE h.establishment = %(establishment)s
ORDER BY h.seq LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_held
SELECT {columns} FROM {schema}.held AS h JOIN {schema}.held_body AS b ON b.seq = h.seq
WHERE h.establishment = %(establishment)s AND h.state = 'held'
ORDER BY h.seq LIMIT %(limit)s OFFSET %(offset)s;

-- name: list_states
SELECT {columns} FROM {schema}.held AS h JOIN {schema}.held_body AS b ON b.seq = h.seq
WHERE h.establishment = %(establishment)s AND h.state = ANY(%(states)s::text[])
ORDER BY h.seq LIMIT %(limit)s OFFSET %(offset)s;

-- name: cancel
UPDATE {schema}.held SET state = 'cancelled'
WHERE id = %(id)s AND establishment = %(establishment)s AND state = 'held';

-- name: release_now
UPDATE {schema}.held AS h SET release_at = %(now)s, next_attempt_at = %(now)s
FROM (
    SELECT seq, release_at FROM {schema}.held
    WHERE id = %(id)s AND establishment = %(establishment)s AND state = 'held'
    FOR UPDATE
) AS old
WHERE h.seq = old.seq
RETURNING old.release_at;

-- name: claim_due
-- due held messages and expired leases, best first; rows another worker is claiming are
-- skipped, never waited for
WITH due AS (
    SELECT seq, release_at, priority FROM {schema}.held
    WHERE state = 'held' AND release_at <= %(now)s AND next_attempt_at <= %(now)s
    ORDER BY release_at, priority, seq LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), expired AS (
    SELECT seq, release_at, priority FROM {schema}.held
    WHERE state = 'claimed' AND lease_until <= %(now)s
    ORDER BY lease_until LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT seq FROM (SELECT * FROM due UNION ALL SELECT * FROM expired) AS c
    ORDER BY release_at, priority, seq LIMIT %(limit)s
), claimed AS (
    UPDATE {schema}.held AS h
    SET state = 'claimed', lease_until = %(lease_until)s, worker_id = %(worker_id)s,
        attempts = h.attempts + 1
    FROM chosen WHERE h.seq = chosen.seq
    RETURNING h.*
)
SELECT {columns} FROM claimed AS h JOIN {schema}.held_body AS b ON b.seq = h.seq;

-- name: ack
UPDATE {schema}.held SET state = 'released', released_at = %(now)s, lease_until = NULL
WHERE id = ANY(%(ids)s::text[]) AND state = 'claimed' AND worker_id = %(worker_id)s;

-- name: establishment_of
SELECT establishment FROM {schema}.held WHERE id = %(id)s;

-- name: fail_retry
-- back to held, unless a newer message with the same collapse key is held meanwhile: then
-- this one is superseded ("replaced") instead of retried
UPDATE {schema}.held AS h
SET state = CASE
        WHEN h.collapse_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM {schema}.held AS o
            WHERE o.establishment = h.establishment AND o.collapse_key = h.collapse_key
              AND o.state = 'held'
        ) THEN 'replaced'
        ELSE 'held' END,
    lease_until = NULL, last_error = %(error)s,
    next_attempt_at = greatest(%(retry_at)s, h.release_at)
WHERE h.id = %(id)s AND h.state = 'claimed' AND h.worker_id = %(worker_id)s
RETURNING h.establishment, h.id, h.attempts, h.state;

-- name: establishments_of
SELECT DISTINCT establishment FROM {schema}.held WHERE id = ANY(%(ids)s::text[]);

-- name: give_back
UPDATE {schema}.held AS h
SET state = CASE
        WHEN h.collapse_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM {schema}.held AS o
            WHERE o.establishment = h.establishment AND o.collapse_key = h.collapse_key
              AND o.state = 'held'
        ) THEN 'replaced'
        ELSE 'held' END,
    lease_until = NULL, attempts = greatest(h.attempts - 1, 0),
    next_attempt_at = greatest(%(at)s, h.release_at)
WHERE h.id = ANY(%(ids)s::text[]) AND h.state = 'claimed' AND h.worker_id = %(worker_id)s;

-- name: fail_dead
UPDATE {schema}.held SET state = 'dead', lease_until = NULL, last_error = %(error)s
WHERE id = %(id)s AND state = 'claimed' AND worker_id = %(worker_id)s
RETURNING establishment, id, attempts, state;

-- name: held_of
SELECT {columns} FROM {schema}.held AS h JOIN {schema}.held_body AS b ON b.seq = h.seq
WHERE h.establishment = %(establishment)s AND h.state = 'held' ORDER BY h.seq
FOR UPDATE OF h;

-- name: reschedule
UPDATE {schema}.held
SET release_at = %(release_at)s, next_attempt_at = %(next_attempt_at)s, reasons = %(reasons)s
WHERE seq = %(seq)s AND state = 'held';

-- name: reschedule_body
UPDATE {schema}.held_body SET decision = %(decision)s WHERE seq = %(seq)s;

-- name: next_due_at
SELECT least(
    (SELECT release_at FROM {schema}.held
     WHERE state = 'held' AND next_attempt_at <= release_at
     ORDER BY release_at, priority, seq LIMIT 1),
    (SELECT min(next_attempt_at) FROM {schema}.held
     WHERE state = 'held' AND next_attempt_at > release_at),
    (SELECT min(lease_until) FROM {schema}.held WHERE state = 'claimed')
);

-- name: stats_states_all
SELECT state, count(*) FROM {schema}.held GROUP BY state;

-- name: stats_states
SELECT state, count(*) FROM {schema}.held WHERE establishment = %(establishment)s
GROUP BY state;

-- name: stats_reasons_all
SELECT r, count(*) FROM {schema}.held, jsonb_array_elements_text(reasons) AS r
WHERE state = 'held' GROUP BY r;

-- name: stats_reasons
SELECT r, count(*) FROM {schema}.held, jsonb_array_elements_text(reasons) AS r
WHERE establishment = %(establishment)s AND state = 'held' GROUP BY r;

-- name: stats_times_all
SELECT min(created_at), min(release_at) FROM {schema}.held WHERE state = 'held';

-- name: stats_times
SELECT min(created_at), min(release_at) FROM {schema}.held
WHERE establishment = %(establishment)s AND state = 'held';

-- name: audit
-- "hold" and "release" entries are derived from the messages themselves; ties on `at`:
-- holds, then audit rows, then releases (the same order as every store)
SELECT at, establishment, message_id, action, actor, detail FROM (
    SELECT held_at AS at, 0 AS src, seq AS n, establishment, id AS message_id,
           'hold' AS action, actor,
           jsonb_build_object('release_at', held_release_at, 'reasons', reasons) AS detail
    FROM {schema}.held
    WHERE establishment = %(establishment)s AND held_at >= %(since)s
      AND (%(message_id)s::text IS NULL OR id = %(message_id)s::text)
    UNION ALL
    SELECT at, 1, n, establishment, message_id, action, actor, detail
    FROM {schema}.audit
    WHERE establishment = %(establishment)s AND at >= %(since)s
      AND (%(message_id)s::text IS NULL OR message_id = %(message_id)s::text)
    UNION ALL
    SELECT released_at, 2, seq, establishment, id, 'release', worker_id,
           jsonb_build_object('attempts', attempts)
    FROM {schema}.held
    WHERE establishment = %(establishment)s AND state = 'released'
      AND released_at >= %(since)s
      AND (%(message_id)s::text IS NULL OR id = %(message_id)s::text)
) AS entries
ORDER BY at, src, n LIMIT %(limit)s;

-- name: establishments_with_held
SELECT DISTINCT establishment FROM {schema}.held WHERE state = 'held' ORDER BY establishment;
