-- runsheet journal schema, version 1. Applied by runsheet itself (see
-- src/journal/postgres/schema.rs) inside one transaction; every object is
-- in the `runsheet` schema and nothing outside it is touched.

-- One row per session: what `runsheet sessions` lists, and the head of the
-- session's hash chain (the seq the next record must carry and the hash of
-- the last one), which every append locks and checks.
CREATE TABLE runsheet.sessions (
    id             text PRIMARY KEY,
    runbook_path   text NOT NULL,
    runbook_sha256 text NOT NULL,
    environment    text NOT NULL,
    mode           text NOT NULL,
    operator       text NOT NULL,
    host           text NOT NULL,
    started_at     timestamptz NOT NULL,
    -- unfinished, detached, or how it ended (completed, failed, aborted, rolled_back)
    status         text NOT NULL DEFAULT 'unfinished',
    next_seq       bigint NOT NULL CHECK (next_seq >= 0),
    last_hash      text NOT NULL CHECK (last_hash ~ '^[0-9a-f]{64}$'),
    last_at        timestamptz NOT NULL,
    -- the seq the next command from an attached terminal gets
    next_command   bigint NOT NULL DEFAULT 0
);

-- The records: `line` holds the exact bytes of the journal line (without
-- its newline), the same bytes the local file holds, so a session verifies
-- from either copy. The other columns are copied out of the line for queries.
-- No foreign key to sessions: rows are only added by append_records, which
-- creates and locks the session's row first, and a per-row check would
-- cost a third of the insert time under an output flood.
CREATE TABLE runsheet.records (
    session text NOT NULL,
    seq     bigint NOT NULL CHECK (seq >= 0),
    ts      timestamptz NOT NULL,
    type    text NOT NULL,
    hash    text NOT NULL,
    line    text NOT NULL,
    PRIMARY KEY (session, seq)
);

-- Who drives a session. The row is only a description: the driver's
-- session-level advisory lock is the proof that it is alive (see lock.rs).
CREATE TABLE runsheet.drivers (
    session         text PRIMARY KEY,
    operator        text NOT NULL,
    os_user         text NOT NULL,
    host            text NOT NULL,
    terminal        text,
    pid             bigint NOT NULL,
    backend_pid     integer NOT NULL,
    token           text NOT NULL,
    since           timestamptz NOT NULL DEFAULT now(),
    -- the holder this one took over from (a crashed driver), as JSON
    taken_over_from jsonb
);

-- Commands from attached terminals, consumed by the driver in seq order.
CREATE TABLE runsheet.commands (
    session      text NOT NULL REFERENCES runsheet.sessions (id),
    seq          bigint NOT NULL CHECK (seq >= 0),
    submitted_at timestamptz NOT NULL DEFAULT now(),
    operator     text NOT NULL,
    os_user      text NOT NULL,
    host         text NOT NULL,
    terminal     text,
    command      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'consumed', 'refused')),
    reason       text,
    settled_at   timestamptz,
    PRIMARY KEY (session, seq),
    CHECK ((status = 'refused') = (reason IS NOT NULL)),
    CHECK ((status = 'pending') = (settled_at IS NULL))
);

CREATE INDEX commands_pending ON runsheet.commands (session, seq) WHERE status = 'pending';

-- Append consecutive records to a session's chain, in one statement (one
-- round trip, one transaction). The head row is locked and the batch must
-- start exactly at the head: at `next_seq`, after `last_hash`. Otherwise
-- nothing is written and the head is returned with r_appended = false, so
-- two writers can never interleave or fork the chain. Seq 0 (the header)
-- creates the session. Watchers are told on `runsheet_journal` with the
-- payload 'SESSION NEXT_SEQ', delivered when the transaction commits.
CREATE FUNCTION runsheet.append_records(
    p_session   text,
    p_prev_hash text,
    p_seq       bigint[],
    p_ts        timestamptz[],
    p_type      text[],
    p_hash      text[],
    p_line      text[]
)
RETURNS TABLE (r_appended boolean, r_next_seq bigint, r_last_hash text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_n          integer := coalesce(cardinality(p_seq), 0);
    v_head_seq   bigint;
    v_head_hash  text;
    v_header     jsonb;
    v_status     text;
BEGIN
    IF v_n = 0 OR cardinality(p_ts) <> v_n OR cardinality(p_type) <> v_n
       OR cardinality(p_hash) <> v_n OR cardinality(p_line) <> v_n THEN
        RAISE EXCEPTION 'runsheet.append_records: % records with arrays of different lengths', v_n;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_seq) WITH ORDINALITY AS u(s, i) WHERE u.s <> p_seq[1] + u.i - 1) THEN
        RAISE EXCEPTION 'runsheet.append_records: the seqs of a batch must be consecutive';
    END IF;
    IF p_seq[1] = 0 THEN
        IF p_type[1] <> 'header' THEN
            RAISE EXCEPTION 'runsheet.append_records: the first record of session % is not its header', p_session;
        END IF;
        v_header := p_line[1]::jsonb;
        IF v_header->>'session_id' IS DISTINCT FROM p_session THEN
            RAISE EXCEPTION 'runsheet.append_records: the header names session %, not %', v_header->>'session_id', p_session;
        END IF;
        INSERT INTO runsheet.sessions AS s
            (id, runbook_path, runbook_sha256, environment, mode, operator, host,
             started_at, next_seq, last_hash, last_at)
        VALUES (p_session, v_header->>'runbook_path', v_header->>'runbook_sha256',
                v_header->>'environment', v_header->>'mode', v_header->>'operator',
                v_header->>'host', p_ts[1], 0, repeat('0', 64), p_ts[1])
        ON CONFLICT (id) DO NOTHING;
    END IF;

    SELECT s.next_seq, s.last_hash INTO v_head_seq, v_head_hash
      FROM runsheet.sessions AS s WHERE s.id = p_session FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    IF v_head_seq <> p_seq[1] OR v_head_hash <> p_prev_hash THEN
        RETURN QUERY SELECT false, v_head_seq, v_head_hash;
        RETURN;
    END IF;

    INSERT INTO runsheet.records (session, seq, ts, type, hash, line)
    SELECT p_session, u.s, u.t, u.k, u.h, u.l
      FROM unnest(p_seq, p_ts, p_type, p_hash, p_line) AS u(s, t, k, h, l);

    SELECT CASE u.k WHEN 'session_ended' THEN u.l::jsonb->>'outcome'
                    WHEN 'detached' THEN 'detached'
                    ELSE 'unfinished' END
      INTO v_status
      FROM unnest(p_seq, p_type, p_line) AS u(s, k, l)
     WHERE u.k IN ('session_ended', 'detached', 'resumed')
     ORDER BY u.s DESC
     LIMIT 1;

    UPDATE runsheet.sessions AS s
       SET next_seq = p_seq[v_n] + 1,
           last_hash = p_hash[v_n],
           last_at = p_ts[v_n],
           status = coalesce(v_status, s.status)
     WHERE s.id = p_session;

    PERFORM pg_notify('runsheet_journal', p_session || ' ' || (p_seq[v_n] + 1));
    RETURN QUERY SELECT true, p_seq[v_n] + 1, p_hash[v_n];
END
$fn$;
