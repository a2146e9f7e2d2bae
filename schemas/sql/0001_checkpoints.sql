-- 0001: LangGraph checkpoints in PostgreSQL, the same data the Redis store
-- keeps (service/redis_store.h), with the same observable behaviour.
--
-- Applied by memoryd at start-up (and by `memoryd migrate`) inside one
-- transaction under pg_advisory_xact_lock, and recorded in
-- memoryd.schema_migrations; see service/pg_migrate.c. Never edit a
-- migration that has shipped: add the next number.
--
-- Choices:
-- * Every id column is text COLLATE "C": ordering and comparison are
--   bytewise, as in Redis (the latest checkpoint is the largest id in byte
--   order), and the primary keys serve "latest" and "list" by index.
-- * checkpoint and metadata are text, not jsonb: they hold the exact JSON text
--   the API received, so numbers of any size and precision, key order and
--   "\u0000" escapes survive (jsonb would rewrite the first two and refuse the
--   last). The list filter is evaluated in memoryd with the same function the
--   Redis store uses (cp_metadata_matches), so both stores match alike.
-- * Every row has expires_at: now() + CHECKPOINT_TTL_SECONDS when written,
--   refreshed as the Redis scripts refresh TTLs. Reads ignore expired rows;
--   memoryd's sweep deletes them in batches (expires_at indexes).
-- * Writes that change a thread go through the functions below, which take a
--   per-thread advisory lock first: the equivalent of a Redis script's
--   atomicity, so the head (the version that validates memoryd's cache of
--   rendered latest tuples) always moves with the data it describes.

CREATE TABLE memoryd.checkpoints (
    tenant        text COLLATE "C" NOT NULL,
    thread_id     text COLLATE "C" NOT NULL,
    checkpoint_ns text COLLATE "C" NOT NULL,
    checkpoint_id text COLLATE "C" NOT NULL,
    parent_id     text COLLATE "C",
    checkpoint    text NOT NULL,           -- JSON text, without channel_values
    metadata      text NOT NULL,           -- JSON text
    channels      text[] COLLATE "C" NOT NULL, -- channel_versions: channel names ...
    versions      text[] COLLATE "C" NOT NULL, -- ... and their versions, same order
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, thread_id, checkpoint_ns, checkpoint_id)
);
-- list without thread_id: a tenant's checkpoints newest first
CREATE INDEX checkpoints_tenant_newest ON memoryd.checkpoints (tenant, checkpoint_id DESC);
CREATE INDEX checkpoints_expires_at ON memoryd.checkpoints (expires_at);

-- Channel values, shared by the checkpoints of a namespace that reference
-- the same (channel, version). type "empty": the channel has no value.
CREATE TABLE memoryd.checkpoint_blobs (
    tenant        text COLLATE "C" NOT NULL,
    thread_id     text COLLATE "C" NOT NULL,
    checkpoint_ns text COLLATE "C" NOT NULL,
    channel       text COLLATE "C" NOT NULL,
    version       text COLLATE "C" NOT NULL,
    type          text NOT NULL,
    bytes         bytea NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, thread_id, checkpoint_ns, channel, version)
);
CREATE INDEX checkpoint_blobs_expires_at ON memoryd.checkpoint_blobs (expires_at);

-- Pending writes, one row per (task_id, idx) of a checkpoint; they may
-- arrive before their checkpoint.
CREATE TABLE memoryd.checkpoint_writes (
    tenant        text COLLATE "C" NOT NULL,
    thread_id     text COLLATE "C" NOT NULL,
    checkpoint_ns text COLLATE "C" NOT NULL,
    checkpoint_id text COLLATE "C" NOT NULL,
    task_id       text COLLATE "C" NOT NULL,
    idx           bigint NOT NULL,
    task_path     text COLLATE "C" NOT NULL,
    channel       text COLLATE "C" NOT NULL,
    type          text NOT NULL,
    bytes         bytea NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
CREATE INDEX checkpoint_writes_expires_at ON memoryd.checkpoint_writes (expires_at);

-- The head of a namespace: "<generation>|<checkpoint_id>" is the version
-- memoryd's cache of rendered latest tuples is validated against. The
-- generation moves on every put that makes a checkpoint the latest and on
-- every write to the latest; it is time based (microseconds) so a head
-- deleted with its thread and created again never repeats a version.
CREATE TABLE memoryd.checkpoint_heads (
    tenant        text COLLATE "C" NOT NULL,
    thread_id     text COLLATE "C" NOT NULL,
    checkpoint_ns text COLLATE "C" NOT NULL,
    generation    bigint NOT NULL,
    checkpoint_id text COLLATE "C" NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant, thread_id, checkpoint_ns)
);
CREATE INDEX checkpoint_heads_expires_at ON memoryd.checkpoint_heads (expires_at);

-- The next generation of a head: the clock in microseconds, and always more
-- than the previous one.
CREATE FUNCTION memoryd.next_generation(old bigint) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT GREATEST(COALESCE(old, 0) + 1,
                    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
$$;

-- Serialise the writers of one thread until the end of the transaction
-- (the two-key form: a key space apart from the migration lock). Statements
-- after it see everything the previous holder committed.
CREATE FUNCTION memoryd.lock_thread(p_tenant text, p_thread text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(1835363695, hashtext(p_tenant || chr(31) || p_thread))
$$;

-- Upsert one checkpoint with the blobs of its new channel versions, every
-- row with its expiry (service/lua/checkpoint_put.lua, for PostgreSQL).
-- Refreshes the blobs the checkpoint references and the pending writes of the
-- checkpoint; moves the head when the checkpoint is the latest of its
-- namespace. Returns true when it did.
CREATE FUNCTION memoryd.checkpoint_put(
    p_tenant text, p_thread text, p_ns text, p_id text, p_parent text,
    p_checkpoint text, p_metadata text, p_channels text[], p_versions text[],
    p_blob_channels text[], p_blob_versions text[], p_blob_types text[],
    p_blob_bytes bytea[], p_ttl_seconds bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_exp timestamptz := now() + make_interval(secs => p_ttl_seconds);
BEGIN
    PERFORM memoryd.lock_thread(p_tenant, p_thread);
    INSERT INTO memoryd.checkpoints AS c (tenant, thread_id, checkpoint_ns, checkpoint_id,
        parent_id, checkpoint, metadata, channels, versions, expires_at)
    VALUES (p_tenant, p_thread, p_ns, p_id, p_parent, p_checkpoint, p_metadata, p_channels,
            p_versions, v_exp)
    ON CONFLICT (tenant, thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET
        parent_id = EXCLUDED.parent_id, checkpoint = EXCLUDED.checkpoint,
        metadata = EXCLUDED.metadata, channels = EXCLUDED.channels,
        versions = EXCLUDED.versions, expires_at = EXCLUDED.expires_at;

    -- a (channel, version) given twice: the last one wins, as with SET
    INSERT INTO memoryd.checkpoint_blobs AS b (tenant, thread_id, checkpoint_ns, channel,
        version, type, bytes, expires_at)
    SELECT DISTINCT ON (u.channel, u.version) p_tenant, p_thread, p_ns, u.channel, u.version,
           u.type, u.bytes, v_exp
    FROM unnest(p_blob_channels, p_blob_versions, p_blob_types, p_blob_bytes)
         WITH ORDINALITY AS u(channel, version, type, bytes, ord)
    ORDER BY u.channel, u.version, u.ord DESC
    ON CONFLICT (tenant, thread_id, checkpoint_ns, channel, version) DO UPDATE SET
        type = EXCLUDED.type, bytes = EXCLUDED.bytes, expires_at = EXCLUDED.expires_at;

    -- a live thread never loses a channel value (expired rows stay expired)
    UPDATE memoryd.checkpoint_blobs b SET expires_at = v_exp
    FROM unnest(p_channels, p_versions) AS v(channel, version)
    WHERE b.tenant = p_tenant AND b.thread_id = p_thread AND b.checkpoint_ns = p_ns
      AND b.channel = v.channel AND b.version = v.version
      AND b.expires_at > now() AND b.expires_at < v_exp;

    UPDATE memoryd.checkpoint_writes w SET expires_at = v_exp
    WHERE w.tenant = p_tenant AND w.thread_id = p_thread AND w.checkpoint_ns = p_ns
      AND w.checkpoint_id = p_id AND w.expires_at > now() AND w.expires_at < v_exp;

    IF EXISTS (SELECT 1 FROM memoryd.checkpoints c
               WHERE c.tenant = p_tenant AND c.thread_id = p_thread
                 AND c.checkpoint_ns = p_ns AND c.checkpoint_id > p_id
                 AND c.expires_at > now()) THEN
        RETURN false;
    END IF;
    INSERT INTO memoryd.checkpoint_heads AS h (tenant, thread_id, checkpoint_ns, generation,
        checkpoint_id, expires_at)
    VALUES (p_tenant, p_thread, p_ns, memoryd.next_generation(0), p_id, v_exp)
    ON CONFLICT (tenant, thread_id, checkpoint_ns) DO UPDATE SET
        generation = memoryd.next_generation(h.generation),
        checkpoint_id = EXCLUDED.checkpoint_id, expires_at = EXCLUDED.expires_at;
    RETURN true;
END
$$;

-- Store the pending writes of one task (service/lua/checkpoint_writes.lua).
-- p_overwrite (every write goes to a special channel) replaces; otherwise
-- each (task_id, idx) is stored once and a repeat is ignored (an expired row
-- counts as absent). Every write of the checkpoint gets a fresh expiry; a
-- write to the latest checkpoint gives the head a new generation.
CREATE FUNCTION memoryd.checkpoint_put_writes(
    p_tenant text, p_thread text, p_ns text, p_id text, p_task_id text, p_task_path text,
    p_channels text[], p_idx bigint[], p_types text[], p_bytes bytea[],
    p_overwrite boolean, p_ttl_seconds bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_exp timestamptz := now() + make_interval(secs => p_ttl_seconds);
BEGIN
    PERFORM memoryd.lock_thread(p_tenant, p_thread);
    IF p_overwrite THEN
        INSERT INTO memoryd.checkpoint_writes AS w (tenant, thread_id, checkpoint_ns,
            checkpoint_id, task_id, idx, task_path, channel, type, bytes, expires_at)
        SELECT DISTINCT ON (u.idx) p_tenant, p_thread, p_ns, p_id, p_task_id, u.idx,
               p_task_path, u.channel, u.type, u.bytes, v_exp
        FROM unnest(p_channels, p_idx, p_types, p_bytes)
             WITH ORDINALITY AS u(channel, idx, type, bytes, ord)
        ORDER BY u.idx, u.ord DESC
        ON CONFLICT (tenant, thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
        DO UPDATE SET task_path = EXCLUDED.task_path, channel = EXCLUDED.channel,
            type = EXCLUDED.type, bytes = EXCLUDED.bytes, expires_at = EXCLUDED.expires_at;
    ELSE
        INSERT INTO memoryd.checkpoint_writes AS w (tenant, thread_id, checkpoint_ns,
            checkpoint_id, task_id, idx, task_path, channel, type, bytes, expires_at)
        SELECT DISTINCT ON (u.idx) p_tenant, p_thread, p_ns, p_id, p_task_id, u.idx,
               p_task_path, u.channel, u.type, u.bytes, v_exp
        FROM unnest(p_channels, p_idx, p_types, p_bytes)
             WITH ORDINALITY AS u(channel, idx, type, bytes, ord)
        ORDER BY u.idx, u.ord
        ON CONFLICT (tenant, thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
        DO UPDATE SET task_path = EXCLUDED.task_path, channel = EXCLUDED.channel,
            type = EXCLUDED.type, bytes = EXCLUDED.bytes, expires_at = EXCLUDED.expires_at
        WHERE w.expires_at <= now();
    END IF;

    UPDATE memoryd.checkpoint_writes w SET expires_at = v_exp
    WHERE w.tenant = p_tenant AND w.thread_id = p_thread AND w.checkpoint_ns = p_ns
      AND w.checkpoint_id = p_id AND w.expires_at > now() AND w.expires_at < v_exp;

    UPDATE memoryd.checkpoint_heads h SET generation = memoryd.next_generation(h.generation)
    WHERE h.tenant = p_tenant AND h.thread_id = p_thread AND h.checkpoint_ns = p_ns
      AND h.checkpoint_id = p_id AND h.expires_at > now();
END
$$;

-- Make the head of a namespace name its latest live checkpoint (the repair
-- the Redis get script does when the head is missing or stale): after a head
-- expired, or its checkpoint was removed. Returns the checkpoint it names, or
-- NULL when the namespace holds none.
CREATE FUNCTION memoryd.checkpoint_head_repair(p_tenant text, p_thread text, p_ns text)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id text;
    v_exp timestamptz;
BEGIN
    PERFORM memoryd.lock_thread(p_tenant, p_thread);
    SELECT c.checkpoint_id, c.expires_at INTO v_id, v_exp FROM memoryd.checkpoints c
    WHERE c.tenant = p_tenant AND c.thread_id = p_thread AND c.checkpoint_ns = p_ns
      AND c.expires_at > now()
    ORDER BY c.checkpoint_id DESC LIMIT 1;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO memoryd.checkpoint_heads AS h (tenant, thread_id, checkpoint_ns, generation,
        checkpoint_id, expires_at)
    VALUES (p_tenant, p_thread, p_ns, memoryd.next_generation(0), v_id, v_exp)
    ON CONFLICT (tenant, thread_id, checkpoint_ns) DO UPDATE SET
        generation = memoryd.next_generation(h.generation),
        checkpoint_id = EXCLUDED.checkpoint_id, expires_at = EXCLUDED.expires_at
    WHERE h.checkpoint_id <> EXCLUDED.checkpoint_id OR h.expires_at <= now();
    RETURN v_id;
END
$$;

-- Delete a thread: every row of every namespace, heads included.
CREATE FUNCTION memoryd.thread_delete(p_tenant text, p_thread text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n bigint := 0;
    m bigint;
BEGIN
    PERFORM memoryd.lock_thread(p_tenant, p_thread);
    DELETE FROM memoryd.checkpoint_heads WHERE tenant = p_tenant AND thread_id = p_thread;
    GET DIAGNOSTICS m = ROW_COUNT;
    n := n + m;
    DELETE FROM memoryd.checkpoints WHERE tenant = p_tenant AND thread_id = p_thread;
    GET DIAGNOSTICS m = ROW_COUNT;
    n := n + m;
    DELETE FROM memoryd.checkpoint_blobs WHERE tenant = p_tenant AND thread_id = p_thread;
    GET DIAGNOSTICS m = ROW_COUNT;
    n := n + m;
    DELETE FROM memoryd.checkpoint_writes WHERE tenant = p_tenant AND thread_id = p_thread;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;

-- Remove one checkpoint and its pending writes (an operator's tool); the
-- head goes too when it named it (the next read repairs it). Returns how
-- many live rows went: 0 means there was no such checkpoint.
CREATE FUNCTION memoryd.checkpoint_delete(p_tenant text, p_thread text, p_ns text, p_id text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n bigint := 0;
    m bigint;
BEGIN
    PERFORM memoryd.lock_thread(p_tenant, p_thread);
    DELETE FROM memoryd.checkpoint_heads
    WHERE tenant = p_tenant AND thread_id = p_thread AND checkpoint_ns = p_ns
      AND checkpoint_id = p_id;
    WITH d AS (DELETE FROM memoryd.checkpoints
               WHERE tenant = p_tenant AND thread_id = p_thread AND checkpoint_ns = p_ns
                 AND checkpoint_id = p_id
               RETURNING expires_at)
    SELECT count(*) FILTER (WHERE expires_at > now()) INTO m FROM d;
    n := n + m;
    WITH d AS (DELETE FROM memoryd.checkpoint_writes
               WHERE tenant = p_tenant AND thread_id = p_thread AND checkpoint_ns = p_ns
                 AND checkpoint_id = p_id
               RETURNING expires_at)
    SELECT count(*) FILTER (WHERE expires_at > now()) INTO m FROM d;
    RETURN n + m;
END
$$;
