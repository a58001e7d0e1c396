-- SQL of the SQLite hold store (deconnexion/store/sqlite.py), one named block per query.
-- Placeholders in braces are filled once at import ({columns}: the HeldMessage columns,
-- read from held AS h joined with held_body AS b; {superseded}: a claimed message going back
-- to held finds a newer held message with its collapse key, sqlite.SUPERSEDED).

-- name: schema_v1
CREATE TABLE held (
    seq                    INTEGER PRIMARY KEY,  -- rowid: insertion order, never reused
    id                     TEXT NOT NULL UNIQUE,
    establishment          TEXT NOT NULL,
    idempotency_key        TEXT NOT NULL,
    collapse_key           TEXT,
    kind                   TEXT NOT NULL,
    audience               TEXT NOT NULL,
    sender_role            TEXT NOT NULL,
    urgent                 INTEGER NOT NULL,
    priority               INTEGER NOT NULL,
    recipients             TEXT NOT NULL,        -- JSON array
    content_type           TEXT NOT NULL,
    created_at             REAL NOT NULL,
    release_at             REAL NOT NULL,
    next_attempt_at        REAL NOT NULL,
    reasons                TEXT NOT NULL,        -- JSON array of reason codes
    state                  TEXT NOT NULL,
    attempts               INTEGER NOT NULL DEFAULT 0,
    lease_until            REAL,
    worker_id              TEXT,
    last_error             TEXT,
    released_at            REAL,
    actor                  TEXT,
    justification          TEXT,
    publish_to_students_at REAL,
    held_at                REAL NOT NULL,        -- when it was held: the "hold" audit entry
    held_release_at        REAL NOT NULL,        -- release_at at that moment
    UNIQUE (establishment, idempotency_key)
);
-- the bulky, never-updated-by-the-worker part: a state change rewrites only the narrow row
CREATE TABLE held_body (
    seq                    INTEGER PRIMARY KEY,  -- = held.seq
    payload                BLOB NOT NULL,
    meta                   TEXT NOT NULL,        -- JSON object
    decision               TEXT NOT NULL         -- JSON object
);
-- at most one held message per collapse key and establishment
CREATE UNIQUE INDEX held_collapse ON held (establishment, collapse_key)
    WHERE state = 'held' AND collapse_key IS NOT NULL;
-- claim order
CREATE INDEX held_due ON held (release_at, priority, seq) WHERE state = 'held';
-- retrying messages only (next_attempt_at > release_at): few, cheap to keep
CREATE INDEX held_retry ON held (next_attempt_at)
    WHERE state = 'held' AND next_attempt_at > release_at;
CREATE INDEX held_lease ON held (lease_until) WHERE state = 'claimed';
-- per-establishment views of held messages (list, stats, reschedule)
CREATE INDEX held_tenant ON held (establishment, seq) WHERE state = 'held';
CREATE TABLE audit (
    n             INTEGER PRIMARY KEY,
    at            REAL NOT NULL,
    establishment TEXT NOT NULL,
    message_id    TEXT,
    action        TEXT NOT NULL,
    actor         TEXT,
    detail        TEXT NOT NULL                  -- JSON object
);
CREATE INDEX audit_tenant ON audit (establishment, at);

-- name: schema_v2
-- Keys belong to a sender (key_scope) and an idempotency key names a pending message only: the
-- table-level UNIQUE (establishment, idempotency_key) of v1 cannot be dropped in SQLite, so
-- `held` is rebuilt (same columns, plus key_scope; migrated rows are scoped by their actor).
CREATE TABLE held_v2 (
    seq                    INTEGER PRIMARY KEY,  -- rowid: insertion order, never reused
    id                     TEXT NOT NULL UNIQUE,
    establishment          TEXT NOT NULL,
    idempotency_key        TEXT NOT NULL,
    collapse_key           TEXT,
    kind                   TEXT NOT NULL,
    audience               TEXT NOT NULL,
    sender_role            TEXT NOT NULL,
    urgent                 INTEGER NOT NULL,
    priority               INTEGER NOT NULL,
    recipients             TEXT NOT NULL,        -- JSON array
    content_type           TEXT NOT NULL,
    created_at             REAL NOT NULL,
    release_at             REAL NOT NULL,
    next_attempt_at        REAL NOT NULL,
    reasons                TEXT NOT NULL,        -- JSON array of reason codes
    state                  TEXT NOT NULL,
    attempts               INTEGER NOT NULL DEFAULT 0,
    lease_until            REAL,
    worker_id              TEXT,
    last_error             TEXT,
    released_at            REAL,
    actor                  TEXT,
    justification          TEXT,
    publish_to_students_at REAL,
    held_at                REAL NOT NULL,        -- when it was held: the "hold" audit entry
    held_release_at        REAL NOT NULL,        -- release_at at that moment,
    key_scope              TEXT                  -- whose keys these are; NULL: anonymous
);
INSERT INTO held_v2 (seq, id, establishment, idempotency_key, collapse_key, kind, audience, sender_role, urgent, priority, recipients, content_type, created_at, release_at, next_attempt_at, reasons, state, attempts, lease_until, worker_id, last_error, released_at, actor, justification, publish_to_students_at, held_at, held_release_at, key_scope)
SELECT seq, id, establishment, idempotency_key, collapse_key, kind, audience, sender_role, urgent, priority, recipients, content_type, created_at, release_at, next_attempt_at, reasons, state, attempts, lease_until, worker_id, last_error, released_at, actor, justification, publish_to_students_at, held_at, held_release_at, coalesce(actor, '') FROM held;
DROP TABLE held;
ALTER TABLE held_v2 RENAME TO held;
-- an idempotency key names at most one pending message of a sender
CREATE UNIQUE INDEX held_key ON held (establishment, key_scope, idempotency_key)
    WHERE state IN ('held', 'claimed');
-- at most one held message per collapse key, sender and establishment
CREATE UNIQUE INDEX held_collapse ON held (establishment, key_scope, collapse_key)
    WHERE state = 'held' AND collapse_key IS NOT NULL;
CREATE INDEX held_due ON held (release_at, priority, seq) WHERE state = 'held';
CREATE INDEX held_retry ON held (next_attempt_at)
    WHERE state = 'held' AND next_attempt_at > release_at;
CREATE INDEX held_lease ON held (lease_until) WHERE state = 'claimed';
CREATE INDEX held_tenant ON held (establishment, seq) WHERE state = 'held';

-- name: schema_v3
-- each held message names the policy it was decided under (NULL: held before policies were
-- recorded); the policies, by digest
ALTER TABLE held ADD COLUMN policy TEXT;
CREATE TABLE policy (
    digest TEXT PRIMARY KEY,                 -- SHA-256 of `json`
    json   TEXT NOT NULL                     -- the policy's canonical JSON
);

-- name: schema_v4
-- when a message loses its meaning (NULL: never); state 'expired' needs no schema change here
ALTER TABLE held ADD COLUMN expires_at REAL;

-- name: schema_v5
-- `pending` (1: held or claimed, 0: any later state) instead of `state` in held_key's WHERE: a
-- claim (held → claimed) leaves the index as it is; before, SQLite rewrote the row's entry
-- on every claim, since the columns of a partial index's WHERE were changed
ALTER TABLE held ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
UPDATE held SET pending = 1 WHERE state IN ('held', 'claimed');
DROP INDEX held_key;
CREATE UNIQUE INDEX held_key ON held (establishment, key_scope, idempotency_key)
    WHERE pending = 1;

-- name: find_keys
-- pending messages for (establishment, key_scope, idempotency_key) triples, a JSON array
SELECT h.establishment, h.key_scope, h.idempotency_key, h.id, h.release_at, h.state
FROM json_each(:keys) AS j
JOIN held AS h
  ON h.establishment = j.value ->> 0 AND h.key_scope = j.value ->> 1
 AND h.idempotency_key = j.value ->> 2
WHERE h.pending = 1;

-- name: find_collapse
-- held messages for (establishment, key_scope, collapse_key) triples, a JSON array
SELECT h.establishment, h.key_scope, h.collapse_key, h.id
FROM json_each(:keys) AS j
JOIN held AS h
  ON h.establishment = j.value ->> 0 AND h.key_scope = j.value ->> 1
 AND h.collapse_key = j.value ->> 2
WHERE h.state = 'held' AND h.collapse_key IS NOT NULL;

-- name: mark_replaced
UPDATE held SET state = 'replaced', pending = 0 WHERE id = ? AND state = 'held';

-- name: last_seq
SELECT coalesce(max(seq), 0) FROM held;

-- name: insert_held
-- the columns of sqlite_rows.HEAD; the values: a placeholder per column, or NULL where all rows of
-- the statement leave that optional column empty (filled per statement: sqlite_rows.NullFreeRows)
INSERT INTO held ({head}) VALUES ({values});

-- name: insert_body
INSERT INTO held_body (seq, payload, meta, decision) VALUES (?, ?, ?, ?);

-- name: insert_audit
INSERT INTO audit (at, establishment, message_id, action, actor, detail)
VALUES (?, ?, ?, ?, ?, ?);

-- name: get
SELECT {columns} FROM held AS h JOIN held_body AS b ON b.seq = h.seq
WHERE h.id = :id AND h.establishment = :establishment;

-- name: list
SELECT {columns} FROM held AS h JOIN held_body AS b ON b.seq = h.seq
WHERE h.establishment = :establishment
ORDER BY h.seq LIMIT :limit OFFSET :offset;

-- name: list_held
SELECT {columns} FROM held AS h JOIN held_body AS b ON b.seq = h.seq
WHERE h.establishment = :establishment AND h.state = 'held'
ORDER BY h.seq LIMIT :limit OFFSET :offset;

-- name: list_states
SELECT {columns} FROM held AS h JOIN held_body AS b ON b.seq = h.seq
WHERE h.establishment = :establishment AND h.state IN (SELECT value FROM json_each(:states))
ORDER BY h.seq LIMIT :limit OFFSET :offset;

-- name: by_seqs
-- in claim order: sorted here, not by a Python key function per row
SELECT {columns} FROM held AS h JOIN held_body AS b ON b.seq = h.seq
WHERE h.seq IN (SELECT value FROM json_each(:seqs))
ORDER BY h.release_at, h.priority, h.seq;

-- name: cancel
UPDATE held SET state = 'cancelled', pending = 0
WHERE id = :id AND establishment = :establishment AND state = 'held';

-- name: release_now
UPDATE held SET release_at = :now, next_attempt_at = :now
WHERE id = :id AND establishment = :establishment AND state = 'held';

-- name: held_release_at
SELECT release_at FROM held WHERE id = :id AND establishment = :establishment AND state = 'held';

-- name: claim_due
-- due held messages and expired leases, best first; RETURNING order is not guaranteed, the
-- caller sorts (common.decode_claimed: the returned tuples begin with the claim order)
WITH due AS (
    SELECT seq, release_at, priority FROM held
    WHERE state = 'held' AND release_at <= :now AND next_attempt_at <= :now
    ORDER BY release_at, priority, seq LIMIT :limit
), expired AS (
    SELECT seq, release_at, priority FROM held
    WHERE state = 'claimed' AND lease_until <= :now
    ORDER BY release_at, priority, seq LIMIT :limit
), chosen AS (
    SELECT seq FROM (SELECT * FROM due UNION ALL SELECT * FROM expired)
    ORDER BY release_at, priority, seq LIMIT :limit
)
UPDATE held
SET state = 'claimed', lease_until = :lease_until, worker_id = :worker_id,
    attempts = attempts + 1
WHERE seq IN (SELECT seq FROM chosen)
RETURNING {claimed};

-- name: lease_expired
-- is a claimed message's lease over (claim_due then takes it back too)
SELECT 1 FROM held WHERE state = 'claimed' AND lease_until <= :now LIMIT 1;

-- name: claim_held
-- claim_due when no lease is over (lease_expired found nothing): due held messages only,
-- without merging them with the expired leases
UPDATE held
SET state = 'claimed', lease_until = :lease_until, worker_id = :worker_id,
    attempts = attempts + 1
WHERE seq IN (
    SELECT seq FROM held
    WHERE state = 'held' AND release_at <= :now AND next_attempt_at <= :now
    ORDER BY release_at, priority, seq LIMIT :limit
)
RETURNING {claimed};

-- name: claimed_bodies
-- the held_body rows of a claim, by seq (common.CLAIMED: their columns follow the held ones)
SELECT seq, payload, meta, decision FROM held_body
WHERE seq IN (SELECT value FROM json_each(:seqs));

-- name: release_rows
-- the rows a claim_release claimed (by seq), the columns store.claimed.RELEASE_HEAD names, then
-- held_body's payload, meta and decision, in no order (the caller sorts)
SELECT {release} FROM held AS h JOIN held_body AS b ON b.seq = h.seq
WHERE h.seq IN (SELECT value FROM json_each(:seqs));

-- name: ack
UPDATE held SET state = 'released', pending = 0, released_at = :now, lease_until = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'claimed' AND worker_id = :worker_id;

-- name: ack_seqs
-- the same, the rows named by seq (sqlite_rows.ClaimedSeqs): found by the integer primary key
UPDATE held SET state = 'released', pending = 0, released_at = :now, lease_until = NULL
WHERE seq IN (SELECT value FROM json_each(:seqs)) AND state = 'claimed' AND worker_id = :worker_id;

-- name: fail_retry
-- back to held, unless a newer message with the same collapse key is held meanwhile: then
-- this one is superseded ("replaced") instead of retried
UPDATE held
SET state = CASE WHEN {superseded} THEN 'replaced' ELSE 'held' END,
    pending = CASE WHEN {superseded} THEN 0 ELSE 1 END,
    lease_until = NULL, last_error = :error, next_attempt_at = max(:retry_at, release_at)
WHERE id = :id AND state = 'claimed' AND worker_id = :worker_id
RETURNING establishment, id, attempts, state;

-- name: give_back
UPDATE held
SET state = CASE WHEN {superseded} THEN 'replaced' ELSE 'held' END,
    pending = CASE WHEN {superseded} THEN 0 ELSE 1 END,
    lease_until = NULL, attempts = max(attempts - 1, 0), next_attempt_at = max(:at, release_at)
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'claimed' AND worker_id = :worker_id;

-- name: fail_dead
UPDATE held SET state = 'dead', pending = 0, lease_until = NULL, last_error = :error
WHERE id = :id AND state = 'claimed' AND worker_id = :worker_id
RETURNING establishment, id, attempts, state;

-- name: held_of
SELECT {columns} FROM held AS h JOIN held_body AS b ON b.seq = h.seq
WHERE h.establishment = :establishment AND h.state = 'held' ORDER BY h.seq;

-- name: reschedule
UPDATE held
SET release_at = :release_at, next_attempt_at = :next_attempt_at, reasons = :reasons,
    policy = :policy, state = :state, pending = (:state IN ('held', 'claimed'))
WHERE seq = :seq AND state = 'held';

-- name: expire
-- claimed too late: not delivered
UPDATE held SET state = 'expired', pending = 0, lease_until = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'claimed' AND worker_id = :worker_id
  AND expires_at <= :now
RETURNING seq;

-- name: record_policy
INSERT INTO policy (digest, json) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING;

-- name: recorded_policy
SELECT json FROM policy WHERE digest = :digest;

-- name: held_policies
SELECT policy, count(*) FROM held
WHERE establishment = :establishment AND state = 'held' GROUP BY policy;

-- name: reschedule_body
UPDATE held_body SET decision = :decision WHERE seq = :seq;

-- name: count_due
SELECT
    (SELECT count(*) FROM held
     WHERE state = 'held' AND release_at <= :now AND next_attempt_at <= :now)
  + (SELECT count(*) FROM held WHERE state = 'claimed' AND lease_until <= :now);

-- name: next_due_at
-- first held message not waiting for a retry (claim order), earliest retry, earliest lease end
SELECT min(x) FROM (
    SELECT (
        SELECT release_at FROM held
        WHERE state = 'held' AND next_attempt_at <= release_at
        ORDER BY release_at, priority, seq LIMIT 1
    ) AS x
    UNION ALL
    SELECT min(next_attempt_at) FROM held WHERE state = 'held' AND next_attempt_at > release_at
    UNION ALL
    SELECT min(lease_until) FROM held WHERE state = 'claimed'
);

-- name: stats_states_all
SELECT state, count(*) FROM held GROUP BY state;

-- name: stats_states
SELECT state, count(*) FROM held WHERE establishment = :establishment GROUP BY state;

-- name: stats_reasons_all
SELECT j.value, count(*) FROM held, json_each(held.reasons) AS j
WHERE held.state = 'held' GROUP BY j.value;

-- name: stats_reasons
SELECT j.value, count(*) FROM held, json_each(held.reasons) AS j
WHERE held.establishment = :establishment AND held.state = 'held' GROUP BY j.value;

-- name: stats_times_all
SELECT min(created_at), min(release_at) FROM held WHERE state = 'held';

-- name: stats_times
SELECT min(created_at), min(release_at) FROM held
WHERE establishment = :establishment AND state = 'held';

-- name: audit
-- "hold" and "release" entries are derived from the messages themselves (one row each, no
-- audit write on the hot paths); everything else is in the audit table. Ties on `at`: holds,
-- then audit rows, then releases.
SELECT at, establishment, message_id, action, actor, detail FROM (
    SELECT held_at AS at, 0 AS src, seq AS n, establishment, id AS message_id,
           'hold' AS action, actor,
           json_object('release_at', held_release_at, 'reasons', json(reasons)) AS detail
    FROM held
    WHERE establishment = :establishment AND held_at >= :since
      AND (:message_id IS NULL OR id = :message_id)
    UNION ALL
    SELECT at, 1, n, establishment, message_id, action, actor, detail
    FROM audit
    WHERE establishment = :establishment AND at >= :since
      AND (:message_id IS NULL OR message_id = :message_id)
    UNION ALL
    SELECT released_at, 2, seq, establishment, id, 'release', worker_id,
           json_object('attempts', attempts)
    FROM held
    WHERE establishment = :establishment AND state = 'released' AND released_at >= :since
      AND (:message_id IS NULL OR id = :message_id)
)
ORDER BY at, src, n LIMIT :limit;

-- name: establishments_with_held
SELECT DISTINCT establishment FROM held WHERE state = 'held' ORDER BY establishment;
