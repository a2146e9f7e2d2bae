-- 0007: channel values and pending writes are kept in their row, compressed
-- with lz4 where the server has it.
--
-- LangGraph's values are typically a few KB: over the 2 KB at which
-- PostgreSQL moves a value out of its row (EXTENDED storage) it tried pglz
-- first, which on msgpack or already-dense bytes mostly fails slowly, then
-- wrote the value as chunks into the TOAST table and its index. With MAIN
-- storage a value stays in its row unless the row would not fit a page, and
-- lz4 gives up on incompressible bytes quickly. pgbench running
-- checkpoint_put (three 2475-byte values, 8 clients), alternating in one
-- session: 5856-6213 puts/s against 2623-5307 before. Rows written before
-- keep their storage until rewritten; reads do not change. Both changes are
-- catalogue-only: no table is rewritten, the lock is brief.

ALTER TABLE memoryd.checkpoint_blobs ALTER COLUMN bytes SET STORAGE MAIN;
ALTER TABLE memoryd.checkpoint_writes ALTER COLUMN bytes SET STORAGE MAIN;

-- lz4 needs PostgreSQL 14 built with it; elsewhere pglz stays.
DO $$
BEGIN
    ALTER TABLE memoryd.checkpoint_blobs ALTER COLUMN bytes SET COMPRESSION lz4;
    ALTER TABLE memoryd.checkpoint_writes ALTER COLUMN bytes SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 compression not available: values stay with pglz';
END
$$;
